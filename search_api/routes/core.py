"""Core routes: search, documents, libraries, health. Thin: validate shape, call a service, shape output."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from indexer.connectors.jsonl import record_to_document
from indexer.pipeline import ingest_documents
from kb.errors import BadRequest, NotFound, PayloadTooLarge
from kb.models import Principal, SkippedFile
from kb.search import SearchRequest
from search_api.deps import AdminPrincipal, CurrentPrincipal, Svc

router = APIRouter()

MAX_RECORDS = 1000


class Filters(BaseModel):
    """Optional search filters."""

    libraries: list[str] | None = None
    tags: list[str] | None = None
    updated_after: datetime | None = None


class SearchBody(BaseModel):
    """Body of ``POST /v1/search``."""

    query: str
    libraries: list[str] | None = None
    top_k: int = 10
    offset: int = 0
    mode: Literal["bm25", "vector", "hybrid"] = "hybrid"
    filters: Filters | None = None
    explain: bool = False


class HitOut(BaseModel):
    """One search hit."""

    doc_id: str
    library: str
    title: str
    url: str | None
    score: float
    snippet: str
    tags: list[str] = Field(default_factory=list)
    updated_at: datetime | None = None
    explain: dict[str, Any] | None = None


class TermCard(BaseModel):
    """A glossary definition for a term found in the query."""

    term_id: str
    term: str
    definition: str
    surface: str | None = None


class SearchOut(BaseModel):
    """Response of ``POST /v1/search``."""

    hits: list[HitOut]
    total: int
    took_ms: float
    terms: list[TermCard] = Field(default_factory=list)


def can_read(principal: Principal, acl: list[str]) -> bool:
    """Whether ``principal`` may read a document with ``acl``."""
    allowed = principal.principals()
    return allowed is None or bool(set(allowed) & set(acl))


@router.get("/healthz")
def healthz(services: Svc) -> dict:
    """Liveness (unauthenticated, so it reveals no document counts)."""
    return {"status": "ok", "model": services.kb.store.get_meta("embed_model")}


@router.post("/v1/search", response_model=SearchOut)
def search(body: SearchBody, services: Svc, principal: CurrentPrincipal) -> dict:
    """Hybrid search across libraries, as the calling principal."""
    libraries = body.libraries
    if body.filters and body.filters.libraries is not None:
        libraries = sorted(set(libraries or body.filters.libraries) & set(body.filters.libraries))
    req = SearchRequest(
        query=body.query,
        libraries=libraries,
        top_k=body.top_k,
        offset=body.offset,
        mode=body.mode,
        tags=body.filters.tags if body.filters else None,
        updated_after=body.filters.updated_after if body.filters else None,
        explain=body.explain,
    )
    res = services.search.search(req, principal)
    hits = [{**h.__dict__, "explain": h.explain if body.explain else None} for h in res.hits]
    terms = services.glossary.cards_for_query(body.query) if services.glossary is not None else []
    return {"hits": hits, "total": res.total, "took_ms": res.took_ms, "terms": terms}


@router.get("/v1/libraries")
def libraries(services: Svc, principal: CurrentPrincipal) -> dict:
    """All libraries, with the number of documents the caller may read."""
    return {"libraries": services.kb.store.libraries(principal.principals())}


@router.get("/v1/documents/{library}/{doc_id:path}")
def get_document(library: str, doc_id: str, services: Svc, principal: CurrentPrincipal) -> dict:
    """One document; a document the principal may not read is reported as not found."""
    doc = services.kb.store.get_document(library, doc_id)
    if not can_read(principal, doc.acl):
        raise NotFound(f"unknown document: {library}/{doc_id}")
    return doc.to_dict()


@router.delete("/v1/documents/{library}/{doc_id:path}")
def delete_document(library: str, doc_id: str, services: Svc, principal: AdminPrincipal) -> dict:
    """Delete one document (admin)."""
    services.kb.store.delete_document(library, doc_id)
    services.kb.sync(force=True)
    return {"deleted": f"{library}/{doc_id}"}


@router.post("/v1/libraries/{library}/documents")
def upsert_documents(
    library: str, records: list[dict[str, Any]], services: Svc, principal: AdminPrincipal
) -> dict:
    """Upsert a batch of records in the jsonl shape (admin); bad records are reported, good ones kept."""
    if not records:
        raise BadRequest("the batch is empty")
    if len(records) > MAX_RECORDS:
        raise PayloadTooLarge(f"at most {MAX_RECORDS} records per request")
    docs = []
    for i, rec in enumerate(records):  # non-objects were already refused (422) by the body's type
        doc = record_to_document(rec)
        docs.append(SkippedFile(f"record {i}", doc) if isinstance(doc, str) else doc)
    report = ingest_documents(services.kb, library, docs)
    return report.to_dict()
