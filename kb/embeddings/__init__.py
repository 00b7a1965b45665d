"""Sentence embeddings behind one small interface, chosen by settings (see :func:`make_embedder`)."""

from kb.embeddings.base import Embedder, make_embedder

__all__ = ["Embedder", "make_embedder"]
