"""The search service: validate, retrieve (BM25 and/or vectors, filtered inside retrieval), fuse, page, and
build snippets. Results are documents, each represented by its best chunk."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from kb.engine import KnowledgeBase
from kb.errors import BadRequest, NotFound
from kb.fusion import Fused, collapse, rrf, weighted
from kb.index.base import SearchFilter
from kb.models import Hit, Principal
from kb.snippets import compile_terms, make_snippet

MODES = ("bm25", "vector", "hybrid")
MAX_QUERY_CHARS = 2000


@dataclass
class SearchRequest:
    """One search, as the API and the CLI build it."""

    query: str
    libraries: list[str] | None = None
    top_k: int = 10
    offset: int = 0
    mode: str = "hybrid"
    tags: list[str] | None = None
    updated_after: datetime | None = None
    explain: bool = False


@dataclass
class SearchResponse:
    """Hits (one page), an estimate of the total matching documents, and the time taken."""

    hits: list[Hit]
    total: int
    took_ms: float
    query_terms: list[str] = field(default_factory=list)


# A hook the face may set to add glossary synonyms to a query: text -> extra query strings.
QueryExpander = Callable[[str], list[str]]


class SearchService:
    """Searches a :class:`KnowledgeBase` as a principal."""

    def __init__(self, kb: KnowledgeBase, expander: QueryExpander | None = None) -> None:
        self.kb = kb
        self.expander = expander

    def _validate(self, req: SearchRequest) -> None:
        if not isinstance(req.query, str) or not req.query.strip():
            raise BadRequest("query must be a non-empty string")
        if len(req.query) > MAX_QUERY_CHARS:
            raise BadRequest(f"query is longer than {MAX_QUERY_CHARS} characters")
        if req.mode not in MODES:
            raise BadRequest(f"mode must be one of {', '.join(MODES)}")
        max_k = self.kb.settings.max_top_k
        if not 1 <= req.top_k <= max_k:
            raise BadRequest(f"top_k must be between 1 and {max_k}")
        if not 0 <= req.offset <= 1000:
            raise BadRequest("offset must be between 0 and 1000")
        if req.libraries is not None:
            unknown = sorted(set(req.libraries) - self.kb.store.library_names())
            if unknown:
                raise NotFound(f"unknown library: {', '.join(unknown)}")

    def search(self, req: SearchRequest, principal: Principal) -> SearchResponse:
        """Run one search; nothing outside the principal's ACL can appear in the response."""
        t0 = time.perf_counter()
        self._validate(req)
        self.kb.sync()
        p = principal.principals()
        flt = SearchFilter(
            principals=tuple(p) if p is not None else None,
            libraries=tuple(req.libraries) if req.libraries is not None else None,
            tags=tuple(req.tags) if req.tags else None,
            updated_after=req.updated_after,
        )
        terms = self._terms(req.query)
        pool = max(100, (req.offset + req.top_k) * 5)
        lists = self._retrieve(req, terms, flt, pool)
        fused = self._fuse(req.mode, lists)
        page = fused[req.offset : req.offset + req.top_k]
        hits = self._hits(page, terms, req)
        took = (time.perf_counter() - t0) * 1000
        return SearchResponse(hits=hits, total=len(fused), took_ms=round(took, 2), query_terms=terms)

    def _terms(self, query: str) -> list[str]:
        terms = self.kb.analyzer.query_terms(query)
        if self.expander is not None:
            for extra in self.expander(query):
                terms += [t for t in self.kb.analyzer.query_terms(extra) if t not in terms]
        return terms

    def _retrieve(self, req: SearchRequest, terms: list[str], flt: SearchFilter, pool: int) -> dict:
        lists: dict = {}
        if req.mode in ("bm25", "hybrid"):
            lists["bm25"] = collapse(self.kb.bm25.search(terms, flt, pool))
        if req.mode in ("vector", "hybrid"):
            vi = self.kb.vectors
            if vi is None:
                if req.mode == "vector":
                    raise BadRequest("vector search is not available: embeddings are disabled")
            else:
                q = self.kb.embed_query(req.query)
                lists["vector"] = collapse(vi.search(q, flt, pool))
        return lists

    def _fuse(self, mode: str, lists: dict) -> list[Fused]:
        s = self.kb.settings
        if mode != "hybrid" or len(lists) == 1:
            name = next(iter(lists))
            return [Fused(d, sc, {name: sc}, {name: i + 1}, c) for i, (d, sc, c) in enumerate(lists[name])]
        if s.fusion == "weighted":
            w = s.hybrid_bm25_weight
            return weighted(lists, {"bm25": w, "vector": 1 - w})
        return rrf(lists, k=s.rrf_k)

    def _hits(self, page: list[Fused], terms: list[str], req: SearchRequest) -> list[Hit]:
        docs = self.kb.store.documents_by_pk(f.document_pk for f in page)
        chunks = self.kb.store.chunk_texts(f.chunk_pk for f in page if f.chunk_pk is not None)
        marks = compile_terms(terms + self.kb.analyzer.surface_terms(req.query))
        out: list[Hit] = []
        for f in page:
            d = docs.get(f.document_pk)
            if d is None:  # deleted between retrieval and now
                continue
            text = chunks[f.chunk_pk][0] if f.chunk_pk in chunks else d.title
            hit = Hit(
                doc_id=d.doc_id,
                library=d.library,
                title=d.title,
                url=d.url,
                score=round(f.score, 6),
                snippet=make_snippet(text, marks),
                tags=d.tags,
                updated_at=d.updated_at,
                chunk_id=str(f.chunk_pk) if f.chunk_pk is not None else None,
            )
            if req.explain:
                hit.explain = {"parts": f.parts, "ranks": f.ranks}
            out.append(hit)
        return out
