"""The knowledge base: the store plus its derived indexes, kept in step with the store's change log.

Several processes may share one ``KB_HOME`` (a server and a CLI ingest, say). The store (SQLite WAL) handles
concurrent access; writes to the on-disk BM25 index are serialised with a file lock, and each process keeps
its in-memory vector index current by replaying the change log (:meth:`KnowledgeBase.sync`).
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property

import numpy as np

from kb.analysis import Analyzer
from kb.auth import TokenStore
from kb.db import Database
from kb.embeddings.base import Embedder, make_embedder
from kb.errors import ServiceUnavailable
from kb.index.bm25 import BM25Index
from kb.index.es import ESVectorView
from kb.index.vectors import VectorIndex
from kb.settings import Settings
from kb.store import IndexedChunk, Store

log = logging.getLogger(__name__)

_UNSET = object()


class KnowledgeBase:
    """Store + analyzer + embedder + BM25 + vectors for one ``KB_HOME``."""

    def __init__(self, settings: Settings, embedder: Embedder | None | object = _UNSET) -> None:
        self.settings = settings
        home = settings.ensure_home()
        self.db = Database(settings.resolved_database_url())
        self.store = Store(self.db)
        self.tokens = TokenStore(self.db)
        # After every table module is imported (kb.auth above; features register theirs before this).
        self.db.create_all()
        self.store.ensure_indexes()
        self.analyzer = Analyzer()
        self._embedder = embedder
        self._vectors: VectorIndex | ESVectorView | None = None
        self.bm25 = self._make_text_index(home)
        self._sync_lock = threading.RLock()
        # Loading the vectors (seconds at 100k chunks) takes its own lock, not _sync_lock, so BM25 searches
        # (which sync first) are not held up while the vector index is built at start-up.
        self._vectors_lock = threading.Lock()
        self._last_check = 0.0
        self._lock_path = home / "index.lock"

    def _make_text_index(self, home):  # noqa: ANN001, ANN202 - BM25Index | ElasticsearchIndex
        """The BM25 index of the configured backend (embedded tantivy, or Elasticsearch)."""
        s = self.settings
        if s.index_backend != "elasticsearch":
            return BM25Index(home / "bm25", self.analyzer, title_boost=s.title_boost)
        if not s.es_url:
            raise ServiceUnavailable("KB_INDEX_BACKEND=elasticsearch needs KB_ES_URL")
        from kb.index.es import ElasticsearchIndex, ESVectorView

        dim = self.embedder.dim if self.embedder is not None else 384
        es = ElasticsearchIndex(
            s.es_url, self.analyzer, dim, s.es_index_prefix, s.title_boost, vector_source=self._vectors_for
        )
        if self.embedder is not None:
            self._vectors = ESVectorView(es)  # vectors live in the same Elasticsearch documents
        return es

    # --- components ------------------------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder | None:
        """The embedder (built on first use; None when embeddings are off)."""
        if self._embedder is _UNSET:
            self._embedder = make_embedder(self.settings)
        return self._embedder  # type: ignore[return-value]

    @property
    def model_name(self) -> str | None:
        """Name of the embedding model in use."""
        e = self.embedder
        return e.name if e is not None else None

    @cached_property
    def _query_cache(self) -> dict[str, np.ndarray]:
        return {}

    def embed_query(self, text: str) -> np.ndarray | None:
        """Embedding of a query (memoised: repeated queries are free)."""
        e = self.embedder
        if e is None:
            return None
        v = self._query_cache.get(text)
        if v is None:
            v = e.embed_queries([text])[0]
            if len(self._query_cache) > 4096:
                self._query_cache.clear()
            self._query_cache[text] = v
        return v

    # --- keeping derived indexes current --------------------------------------------------------------
    @contextmanager
    def index_lock(self) -> Iterator[None]:
        """Exclusive lock over on-disk derived index writes (across processes)."""
        with open(self._lock_path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def sync(self, force: bool = False) -> None:
        """Apply store changes not yet in the derived indexes (cheap when nothing changed)."""
        now = time.monotonic()
        if not force and now - self._last_check < 0.2:
            return
        with self._sync_lock:
            self._last_check = now
            head = self.store.max_seq()
            if self.bm25.applied_seq < head:
                with self.index_lock():
                    self._sync_bm25()
                self.bm25.reload()
            elif force:
                self.bm25.reload()
            if isinstance(self._vectors, VectorIndex) and self._vectors.applied_seq < head:
                self._sync_vectors(self._vectors)

    def _sync_bm25(self) -> None:
        seq, docs = self.store.changed_since(self.bm25.applied_seq)
        if docs:
            self.bm25.apply(docs, self.store.chunks_for_index(docs), seq)

    @property
    def vectors(self) -> VectorIndex | ESVectorView | None:
        """The in-memory vector index, loaded from the store on first use."""
        if self.embedder is None:
            return None
        current = self._vectors
        if current is None:
            with self._vectors_lock:
                current = self._vectors
                if current is None:
                    vi = VectorIndex(self.embedder.dim, exact_limit=self.settings.exact_vector_limit)
                    seq = self.store.max_seq()
                    chunks, vecs = self._vector_entries(None)
                    vi.apply(set(), chunks, vecs, seq)
                    # changes committed after ``seq`` are applied by the next sync()
                    with self._sync_lock:
                        self._vectors = current = vi
        return current

    def _sync_vectors(self, vi: VectorIndex) -> None:
        seq, docs = self.store.changed_since(vi.applied_seq)
        chunks, vecs = self._vector_entries(docs) if docs else ([], [])
        vi.apply(docs, chunks, vecs, seq)

    def _vector_entries(self, docs: set[int] | None) -> tuple[list[IndexedChunk], list[np.ndarray | None]]:
        chunks, vecs = self.store.vector_entries(self.model_name or "", docs)
        missing = sum(1 for v in vecs if v is None)
        if missing:
            log.warning(
                "%d chunks have no %s embedding; run `kb reindex --embeddings`", missing, self.model_name
            )
        return chunks, vecs

    def _vectors_for(self, chunks: list[IndexedChunk]) -> list[np.ndarray | None]:
        model = self.model_name
        if not model:
            return [None] * len(chunks)
        cached = self.store.cached_embeddings(model, [c.content_hash for c in chunks])
        missing = sum(1 for c in chunks if c.content_hash not in cached)
        if missing:
            log.warning("%d chunks have no %s embedding; run `kb reindex --embeddings`", missing, model)
        return [cached.get(c.content_hash) for c in chunks]

    def rebuild_bm25(self) -> int:
        """Rebuild the BM25 index from the store; returns the number of chunks indexed."""
        with self._sync_lock, self.index_lock():
            self.bm25.clear()
            seq = self.store.max_seq()
            chunks = list(self.store.chunks_for_index())
            self.bm25.apply(set(), chunks, seq)
        return len(chunks)

    def reset_vectors(self) -> None:
        """Forget the in-memory vectors (reloaded from the store on next use)."""
        with self._sync_lock:
            if isinstance(self._vectors, VectorIndex):
                self._vectors = None
