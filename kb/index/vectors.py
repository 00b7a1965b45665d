"""Vector search over chunk embeddings: exact (one matrix product) up to a size, FAISS HNSW above it.

Rows are append-only with a ``live`` mask (a re-ingested document's old rows are masked, compacted later).
Filters (ACL, library, tags, date) become a boolean row mask computed per query, so they are applied inside
retrieval: the top-k is taken among allowed rows only. ACL and tag lists are interned as small integer "set
ids", so the mask is a cheap ``np.isin`` over one int32 column.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import numpy as np

from kb.index.base import ChunkHit, SearchFilter
from kb.store import IndexedChunk


class _Interner:
    """Maps frozensets of strings to small ints and back."""

    def __init__(self) -> None:
        self.ids: dict[frozenset[str], int] = {}
        self.sets: list[frozenset[str]] = []

    def get(self, values: Iterable[str]) -> int:
        key = frozenset(values)
        i = self.ids.get(key)
        if i is None:
            i = self.ids[key] = len(self.sets)
            self.sets.append(key)
        return i

    def matching(self, wanted: Iterable[str]) -> np.ndarray:
        w = set(wanted)
        return np.array([i for i, s in enumerate(self.sets) if s & w], dtype=np.int32)


class VectorIndex:
    """In-memory vectors with per-row metadata for filtering."""

    def __init__(self, dim: int, exact_limit: int = 200_000) -> None:
        self.dim = dim
        self.exact_limit = exact_limit
        self.applied_seq = 0
        self._lock = threading.RLock()
        self._n = 0
        cap = 1024
        self._vecs = np.zeros((cap, dim), dtype=np.float32)
        self._chunk = np.zeros(cap, dtype=np.int64)
        self._doc = np.zeros(cap, dtype=np.int64)
        self._live = np.zeros(cap, dtype=bool)
        self._acl = np.zeros(cap, dtype=np.int32)
        self._tags = np.zeros(cap, dtype=np.int32)
        self._lib = np.zeros(cap, dtype=np.int32)
        self._updated = np.zeros(cap, dtype=np.int64)
        self._acls, self._tagsets, self._libs = _Interner(), _Interner(), _Interner()
        self._rows_of_doc: dict[int, list[int]] = {}
        self._hnsw = None
        self._hnsw_n = 0

    def __len__(self) -> int:
        return int(self._live[: self._n].sum())

    def _grow(self, need: int) -> None:
        cap = len(self._chunk)
        if need <= cap:
            return
        new = max(need, cap * 2)
        for name in ("_vecs", "_chunk", "_doc", "_live", "_acl", "_tags", "_lib", "_updated"):
            old = getattr(self, name)
            arr = np.zeros((new, *old.shape[1:]), dtype=old.dtype)
            arr[: self._n] = old[: self._n]
            setattr(self, name, arr)

    def apply(
        self, document_ids: set[int], chunks: list[IndexedChunk], vectors: list[np.ndarray | None], seq: int
    ) -> None:
        """Replace the rows of ``document_ids`` by ``chunks`` (chunks without a vector are left out)."""
        with self._lock:
            for did in document_ids:
                for r in self._rows_of_doc.pop(did, []):
                    self._live[r] = False
            keep = [(c, v) for c, v in zip(chunks, vectors, strict=True) if v is not None]
            self._grow(self._n + len(keep))
            for ch, v in keep:
                r = self._n
                self._vecs[r] = v
                self._chunk[r], self._doc[r], self._live[r] = ch.id, ch.document_id, True
                self._acl[r] = self._acls.get(ch.acl)
                self._tags[r] = self._tagsets.get(ch.tags)
                self._lib[r] = self._libs.get([ch.library])
                self._updated[r] = int(ch.updated_at.timestamp())
                self._rows_of_doc.setdefault(ch.document_id, []).append(r)
                self._n += 1
            self.applied_seq = max(self.applied_seq, seq)
            if self._n > 1000 and self._n > 2 * max(len(self), 1):
                self._compact()
            if len(self) > self.exact_limit:
                self._extend_hnsw()  # pay the graph build at load/sync time, never inside a query

    def _compact(self) -> None:
        """Drop dead rows (keeps memory bounded under heavy re-ingest)."""
        rows = np.flatnonzero(self._live[: self._n])
        for name in ("_vecs", "_chunk", "_doc", "_live", "_acl", "_tags", "_lib", "_updated"):
            arr = getattr(self, name)
            arr[: len(rows)] = arr[rows]
        self._n = len(rows)
        self._rows_of_doc = {}
        for r in range(self._n):
            self._rows_of_doc.setdefault(int(self._doc[r]), []).append(r)
        self._hnsw, self._hnsw_n = None, 0

    def _mask(self, flt: SearchFilter) -> np.ndarray:
        n = self._n
        mask = self._live[:n].copy()
        if flt.principals is not None:
            mask &= np.isin(self._acl[:n], self._acls.matching(flt.principals))
        if flt.libraries is not None:
            mask &= np.isin(self._lib[:n], self._libs.matching(flt.libraries))
        if flt.tags is not None:
            mask &= np.isin(self._tags[:n], self._tagsets.matching(flt.tags))
        if flt.updated_after is not None:
            mask &= self._updated[:n] > int(flt.updated_after.timestamp())
        return mask

    def search(self, query: np.ndarray, flt: SearchFilter, limit: int) -> list[ChunkHit]:
        """Top ``limit`` chunks by cosine similarity among the rows the filter allows."""
        with self._lock:
            n = self._n
            if n == 0 or limit <= 0:
                return []
            mask = self._mask(flt)
            allowed = int(mask.sum())
            if allowed == 0:
                return []
            if len(self) > self.exact_limit:
                rows, scores = self._search_hnsw(query, mask, min(limit, allowed))
            else:
                rows, scores = self._search_exact(query, mask, min(limit, allowed))
            return [
                ChunkHit(chunk_pk=int(self._chunk[r]), document_pk=int(self._doc[r]), score=float(s))
                for r, s in zip(rows, scores, strict=True)
            ]

    def _search_exact(self, q: np.ndarray, mask: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores = self._vecs[: self._n] @ q.astype(np.float32)
        scores[~mask] = -np.inf
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[np.isfinite(scores[top])]
        return top, scores[top]

    def _extend_hnsw(self) -> None:
        """Build the HNSW graph, or add the rows appended since the last call."""
        import faiss

        if self._hnsw is None:
            self._hnsw = faiss.IndexHNSWFlat(self.dim, 32, faiss.METRIC_INNER_PRODUCT)
            self._hnsw.hnsw.efConstruction = 80
            self._hnsw_n = 0
        if self._hnsw_n < self._n:
            self._hnsw.add(self._vecs[self._hnsw_n : self._n])
            self._hnsw_n = self._n

    def _search_hnsw(self, q: np.ndarray, mask: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        self._extend_hnsw()
        bitmap = np.packbits(mask[: self._hnsw_n], bitorder="little")
        params = faiss.SearchParametersHNSW(sel=faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap)))
        params.efSearch = max(128, 2 * k)
        scores, rows = self._hnsw.search(q.reshape(1, -1).astype(np.float32), k, params=params)
        ok = rows[0] >= 0
        return rows[0][ok], scores[0][ok]
