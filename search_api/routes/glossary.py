"""Glossary routes: term CRUD (admin tokens write, every token reads), lookup, highlight, import/export,
suggestions. Thin: shape the input, call ``services.glossary``, return its dicts."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from kb.errors import BadRequest, NotFound, PayloadTooLarge
from search_api.deps import AdminPrincipal, CurrentPrincipal, Svc

router = APIRouter(prefix="/v1/glossary", tags=["glossary"])

MAX_IMPORT_BYTES = 20 * 1024 * 1024


class AliasIn(BaseModel):
    """An alias with its flags."""

    text: str
    highlight: bool = True
    search: bool = True


class TermIn(BaseModel):
    """Body of create (all fields) and update (PATCH: only the fields given)."""

    model_config = {"extra": "forbid"}

    term: str | None = None
    aliases: list[AliasIn | str] | None = None
    definition: str | None = None
    links: list[dict[str, str] | str] | None = None
    category: str | None = None
    language: str | None = None
    scope: list[str] | None = None
    owner: str | None = None
    status: Literal["draft", "approved"] | None = None
    inflect: bool | None = None

    def values(self) -> dict[str, Any]:
        """The fields that were sent, as plain data."""
        return self.model_dump(exclude_unset=True, mode="json")


class HighlightIn(BaseModel):
    """Body of ``POST /v1/glossary/highlight``."""

    text: str
    format: Literal["text", "html", "markdown"] = "text"
    scope: list[str] | str | None = None


class BatchIn(BaseModel):
    """Body of ``POST /v1/glossary/highlight/batch``: up to 100 items."""

    items: list[HighlightIn] = Field(default_factory=list)


class SuggestIn(BaseModel):
    """Body of ``POST /v1/glossary/suggest``."""

    library: str | None = None
    top: int = 20
    create: bool = True
    min_count: int = 3


def _glossary(services: Any) -> Any:
    if services.glossary is None:
        raise NotFound("the glossary is not installed")
    return services.glossary


@router.get("/terms")
def list_terms(
    services: Svc,
    principal: CurrentPrincipal,
    q: str | None = None,
    status: Literal["draft", "approved"] | None = None,
    category: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict:
    """Entries sorted by term (filter by substring ``q``, status, category)."""
    return _glossary(services).list_terms(q=q, status=status, category=category, limit=limit, offset=offset)


@router.post("/terms", status_code=201)
def create_term(body: TermIn, services: Svc, principal: AdminPrincipal) -> dict:
    """Create an entry (admin); 409 when the term exists in the same scope."""
    return _glossary(services).create(body.values(), owner=principal.user)


@router.get("/terms/{term_id}")
def get_term(term_id: str, services: Svc, principal: CurrentPrincipal) -> dict:
    """One entry."""
    return _glossary(services).get(term_id)


@router.patch("/terms/{term_id}")
def patch_term(term_id: str, body: TermIn, services: Svc, principal: AdminPrincipal) -> dict:
    """Change the given fields of an entry (admin), e.g. ``{"status": "approved"}``."""
    return _glossary(services).update(term_id, body.values(), partial=True)


@router.put("/terms/{term_id}")
def put_term(term_id: str, body: TermIn, services: Svc, principal: AdminPrincipal) -> dict:
    """Replace an entry (admin); fields not sent are reset."""
    return _glossary(services).update(term_id, body.values(), partial=False)


@router.delete("/terms/{term_id}")
def delete_term(term_id: str, services: Svc, principal: AdminPrincipal) -> dict:
    """Delete an entry (admin)."""
    _glossary(services).delete(term_id)
    return {"deleted": term_id}


@router.get("/lookup")
def lookup(
    services: Svc, principal: CurrentPrincipal, q: str = Query(..., max_length=200), limit: int = 10
) -> dict:
    """Entries by term or alias, tolerant of typos, case and width; prefix autocompletion."""
    return {"results": _glossary(services).lookup(q, limit=limit)}


@router.post("/highlight")
def highlight(body: HighlightIn, services: Svc, principal: CurrentPrincipal) -> dict:
    """Matches (code-point and UTF-16 offsets) and, for html/markdown, the rewritten text."""
    return _glossary(services).highlight(body.text, body.format, body.scope)


@router.post("/highlight/batch")
def highlight_batch(body: BatchIn, services: Svc, principal: CurrentPrincipal) -> dict:
    """Highlight up to 100 texts in one request."""
    items = [it.model_dump() for it in body.items]
    return {"results": _glossary(services).highlight_batch(items)}


@router.post("/import")
async def import_terms(
    request: Request,
    services: Svc,
    principal: AdminPrincipal,
    format: Literal["csv", "tsv", "jsonl"] | None = None,  # noqa: A002 - the public parameter name
    filename: str | None = None,
    status: Literal["draft", "approved"] = "approved",
) -> dict:
    """Import a CSV/TSV/JSONL file sent as the request body (gzip allowed); a report by line number."""
    content = await request.body()
    if len(content) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge(f"import files are limited to {MAX_IMPORT_BYTES} bytes")
    if not content:
        raise BadRequest("the request body is empty: send the file content")
    return _glossary(services).import_data(
        content, fmt=format, filename=filename, status=status, owner=principal.user
    )


@router.get("/export")
def export_terms(
    services: Svc,
    principal: CurrentPrincipal,
    format: Literal["csv", "tsv", "jsonl"] = "jsonl",  # noqa: A002
) -> PlainTextResponse:
    """Every entry as CSV, TSV or JSONL."""
    media = {"csv": "text/csv", "tsv": "text/tab-separated-values", "jsonl": "application/x-ndjson"}[format]
    return PlainTextResponse(_glossary(services).export(format), media_type=f"{media}; charset=utf-8")


@router.post("/suggest")
def suggest(body: SuggestIn, services: Svc, principal: AdminPrincipal) -> dict:
    """Frequent undefined candidate terms from the corpus (created as drafts unless ``create`` is false)."""
    g = _glossary(services)
    return {
        "suggestions": g.suggest(body.library, top=body.top, create=body.create, min_count=body.min_count)
    }
