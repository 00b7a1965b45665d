"""Shared helpers of the helpdesk benchmarks: dataset paths, an on-disk embedding cache, metrics.

Embeddings are cached under ``benchmarks/.cache/`` (gitignored) keyed by model, prefix kind and text hash, so
a rerun only embeds texts it has not seen. Datasets are read in place from ``../shared/datasets``; nothing is
copied into the project.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one query at a time: BLAS threads only contend
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DATASETS = Path(os.environ.get("KB_DATASETS", ROOT.parent / "shared" / "datasets"))
CACHE = ROOT / "benchmarks" / ".cache"
SAVE_EVERY = 1024


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


class EmbeddingCache:
    """Query/passage embeddings of one namespace, persisted as ``.npz`` after every batch of new texts."""

    def __init__(self, namespace: str, kind: str = "query") -> None:
        from kb.embeddings import e5_int8
        from kb.embeddings.base import make_embedder
        from kb.settings import Settings

        self._settings = Settings(embedder="e5")
        self._embedder = None
        self._make = make_embedder
        self.kind = kind
        # the runtime's backend is part of the key: int8 and float32 vectors differ slightly
        backend = "int8" if e5_int8.available() else "f32"
        self.path = CACHE / f"emb-e5small-{backend}-{namespace}-{kind}.npz"
        self.vecs: dict[str, np.ndarray] = {}
        if self.path.exists():
            data = np.load(self.path)
            self.vecs = dict(zip(data["keys"].tolist(), data["vecs"], strict=True))

    @property
    def embedder(self):  # noqa: ANN201 - the kb Embedder protocol
        """The embedder, loaded only when something is missing from the cache."""
        if self._embedder is None:
            self._embedder = self._make(self._settings)
        return self._embedder

    def _save(self) -> None:
        CACHE.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self.vecs.keys()))
        vecs = np.stack(list(self.vecs.values())) if self.vecs else np.zeros((0, 384), np.float32)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=keys, vecs=vecs)
        tmp.replace(self.path)

    def embed(self, texts: list[str], progress: bool = True) -> np.ndarray:
        """Unit vectors of ``texts`` (n, dim), computing and saving the ones not yet cached."""
        keys = [_key(t) for t in texts]
        todo = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in self.vecs))
        t0 = time.perf_counter()
        for i in range(0, len(todo), SAVE_EVERY):
            part = todo[i : i + SAVE_EVERY]
            fn = self.embedder.embed_queries if self.kind == "query" else self.embedder.embed_passages
            for t, v in zip(part, fn(part), strict=True):
                self.vecs[_key(t)] = v
            self._save()
            if progress:
                done = i + len(part)
                rate = done / max(time.perf_counter() - t0, 1e-6)
                print(f"  embedded {done}/{len(todo)} ({rate:.0f}/s)", file=sys.stderr, flush=True)
        return np.stack([self.vecs[k] for k in keys]).astype(np.float32)


def pct(x: float) -> str:
    """A fraction as a percentage with two decimals."""
    return f"{100 * x:.2f}%"
