"""Elasticsearch as the scale-out index: BM25 and filtered kNN over the same chunks, via the official client.

The store stays the source of truth; this index is derived exactly like the embedded one: it records the
last change-log sequence it applied (in a small state document) and replays the rest. Text is sent already
analysed (our tokens joined by spaces, indexed with a whitespace analyzer), so BM25 sees the same terms as the
embedded backend. ACL, library, tag and date filters are ``bool.filter`` clauses of the BM25 query and the
``filter`` of the kNN search, i.e. applied inside retrieval.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from kb.analysis import Analyzer
from kb.errors import ServiceUnavailable
from kb.index.base import ChunkHit, SearchFilter
from kb.store import IndexedChunk

VectorSource = Callable[[list[IndexedChunk]], list[np.ndarray | None]]


def index_mapping(dim: int) -> dict:
    """Settings and mappings of the chunk index."""
    return {
        "settings": {
            "analysis": {"analyzer": {"kbws": {"type": "custom", "tokenizer": "whitespace"}}},
        },
        "mappings": {
            "dynamic": "strict",
            "properties": {
                "cid": {"type": "long"},
                "did": {"type": "long"},
                "title": {"type": "text", "analyzer": "kbws", "index_options": "freqs"},
                "body": {"type": "text", "analyzer": "kbws", "index_options": "freqs"},
                "library": {"type": "keyword"},
                "acl": {"type": "keyword"},
                "tags": {"type": "keyword"},
                "updated": {"type": "date", "format": "epoch_second"},
                "vector": {"type": "dense_vector", "dims": dim, "index": True, "similarity": "cosine"},
            },
        },
    }


def filter_clauses(flt: SearchFilter) -> list[dict]:
    """The filter as Elasticsearch ``bool.filter`` clauses."""
    out: list[dict] = []
    if flt.principals is not None:
        out.append({"terms": {"acl": list(flt.principals)}})
    if flt.libraries is not None:
        out.append({"terms": {"library": list(flt.libraries)}})
    if flt.tags is not None:
        out.append({"terms": {"tags": list(flt.tags)}})
    if flt.updated_after is not None:
        out.append({"range": {"updated": {"gt": int(flt.updated_after.timestamp())}}})
    return out


def bm25_query(terms: list[str], flt: SearchFilter, title_boost: float) -> dict:
    """A BM25 query over title (boosted) and body, with the filter applied inside."""
    should = []
    for t in terms:
        should.append({"term": {"body": t}})
        should.append({"term": {"title": {"value": t, "boost": title_boost}}})
    return {"bool": {"should": should, "minimum_should_match": 1, "filter": filter_clauses(flt)}}


class ElasticsearchIndex:
    """One Elasticsearch index of chunks (BM25 + vectors) named ``<prefix>-chunks``."""

    def __init__(
        self,
        url: str,
        analyzer: Analyzer,
        dim: int,
        prefix: str = "kb",
        title_boost: float = 0.25,
        vector_source: VectorSource | None = None,
    ) -> None:
        from elasticsearch import Elasticsearch

        self.es = Elasticsearch(url, request_timeout=30)
        self.analyzer = analyzer
        self.dim = dim
        self.name = f"{prefix}-chunks"
        self.state_index = f"{prefix}-state"
        self.title_boost = title_boost
        self.vector_source = vector_source
        self._ensure()

    def _ensure(self) -> None:
        try:
            if not self.es.indices.exists(index=self.name):
                self.es.indices.create(index=self.name, **index_mapping(self.dim))
            if not self.es.indices.exists(index=self.state_index):
                self.es.indices.create(index=self.state_index)
        except Exception as e:  # the client raises several transport error types
            raise ServiceUnavailable(f"Elasticsearch is not reachable: {e}") from e

    @property
    def applied_seq(self) -> int:
        """Last change-log sequence applied to this index."""
        from elasticsearch import NotFoundError

        try:
            return int(self.es.get(index=self.state_index, id="seq")["_source"]["seq"])
        except NotFoundError:
            return 0

    def apply(self, document_ids: set[int], chunks: Iterable[IndexedChunk], seq: int) -> None:
        """Replace the chunks of ``document_ids`` and record ``seq`` (idempotent, so replay is safe)."""
        from elasticsearch import helpers

        chunks = list(chunks)
        ids = sorted(document_ids)
        for i in range(0, len(ids), 1000):
            q = {"terms": {"did": ids[i : i + 1000]}}
            self.es.delete_by_query(index=self.name, query=q, refresh=True, conflicts="proceed")
        vectors = self.vector_source(chunks) if self.vector_source else [None] * len(chunks)
        actions = (self._action(c, v) for c, v in zip(chunks, vectors, strict=True))
        helpers.bulk(self.es, actions, refresh=True)
        self.es.index(index=self.state_index, id="seq", document={"seq": seq}, refresh=True)

    def _action(self, ch: IndexedChunk, vec: np.ndarray | None) -> dict:
        heads = " ".join(self.analyzer.tokens(" ".join(ch.heading_path)))
        src = {
            "cid": ch.id,
            "did": ch.document_id,
            "title": " ".join(self.analyzer.tokens(ch.title)),
            "body": f"{heads} {' '.join(self.analyzer.tokens(ch.text))}".strip(),
            "library": ch.library,
            "acl": list(ch.acl),
            "tags": list(ch.tags),
            "updated": int(ch.updated_at.timestamp()),
        }
        if vec is not None:
            src["vector"] = [float(x) for x in vec]
        return {"_index": self.name, "_id": str(ch.id), "_source": src}

    def reload(self) -> None:
        """Nothing to do: writes are refreshed when applied."""

    def clear(self) -> None:
        """Drop and recreate the index (for a full rebuild)."""
        self.es.indices.delete(index=self.name, ignore_unavailable=True)
        self.es.delete(index=self.state_index, id="seq", ignore=[404])
        self._ensure()

    def num_chunks(self) -> int:
        """Number of indexed chunks."""
        return int(self.es.count(index=self.name)["count"])

    def search(self, terms: list[str], flt: SearchFilter, limit: int) -> list[ChunkHit]:
        """BM25 top ``limit`` chunks under the filter."""
        if not terms:
            return []
        res = self.es.search(
            index=self.name,
            query=bm25_query(terms, flt, self.title_boost),
            size=limit,
            source=["cid", "did"],
        )
        return self._hits(res)

    def search_vector(self, query: np.ndarray, flt: SearchFilter, limit: int) -> list[ChunkHit]:
        """kNN top ``limit`` chunks; the filter is applied during the HNSW search, not after it."""
        knn = {
            "field": "vector",
            "query_vector": [float(x) for x in query],
            "k": limit,
            "num_candidates": max(100, 2 * limit),
            "filter": filter_clauses(flt),
        }
        res = self.es.search(index=self.name, knn=knn, size=limit, source=["cid", "did"])
        return self._hits(res)

    @staticmethod
    def _hits(res: dict) -> list[ChunkHit]:
        return [
            ChunkHit(
                chunk_pk=int(h["_source"]["cid"]), document_pk=int(h["_source"]["did"]), score=h["_score"]
            )
            for h in res["hits"]["hits"]
        ]


class ESVectorView:
    """Adapts :class:`ElasticsearchIndex` to the vector-index interface the search service uses."""

    def __init__(self, index: ElasticsearchIndex) -> None:
        self.index = index

    def search(self, query: np.ndarray, flt: SearchFilter, limit: int) -> list[ChunkHit]:
        """kNN search."""
        return self.index.search_vector(query, flt, limit)
