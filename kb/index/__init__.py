"""Derived indexes (rebuildable from the store): BM25 and vectors, plus the shared filter type."""

from kb.index.base import SearchFilter

__all__ = ["SearchFilter"]
