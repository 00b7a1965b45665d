"""Helpdesk routes: ask, feedback, desks and FAQs, the agents' ticket queue, learning, calibration, report.

Thin: validate the shape, check who may do it, call ``services.helpdesk``, return its dicts.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, File, Query, UploadFile
from pydantic import BaseModel, Field

from helpdesk.importer import RowError, parse_file
from kb.errors import BadRequest, NotFound, PayloadTooLarge
from kb.models import Principal
from search_api.deps import AdminPrincipal, CurrentPrincipal, Svc

router = APIRouter(prefix="/v1/helpdesk", tags=["helpdesk"])

MAX_IMPORT_ROWS = 20_000
MAX_IMPORT_BYTES = 20 * 1024 * 1024


def _hd(services: Svc) -> Any:
    if services.helpdesk is None:
        raise NotFound("the helpdesk feature is not enabled")
    return services.helpdesk


class AskBody(BaseModel):
    """Body of ``POST /v1/helpdesk/{desk}/ask`` (and of "ask a human")."""

    question: str


class SourceOut(BaseModel):
    """The document an answer comes from (or the best document candidate)."""

    doc_id: str
    library: str
    title: str
    url: str | None = None
    snippet: str


class AskOut(BaseModel):
    """The answer contract: optional fields are omitted when they do not apply."""

    status: Literal["answered", "escalated"]
    answer: str | None = None
    faq_id: str | None = None
    source: SourceOut | None = None
    confidence: float
    alternatives: list[dict[str, Any]] = Field(default_factory=list, max_length=3)
    ticket_id: int | None = None


class FeedbackBody(BaseModel):
    """Helpful / not helpful on the asker's latest answer to ``question``."""

    question: str
    helpful: bool


class DeskBody(BaseModel):
    """A desk to create."""

    id: str
    name: str | None = None
    libraries: list[str] = Field(default_factory=list)
    agent_group: str | None = None
    threshold: float = 0.5


class DeskPatch(BaseModel):
    """Desk fields to change (omitted = unchanged)."""

    name: str | None = None
    libraries: list[str] | None = None
    agent_group: str | None = None
    threshold: float | None = None


class FaqBody(BaseModel):
    """An FAQ to create; ``id`` is generated when omitted."""

    id: str | None = None
    question: str
    variants: list[str] = Field(default_factory=list)
    answer: str
    links: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    status: Literal["published", "draft", "archived"] = "published"


class FaqPatch(BaseModel):
    """FAQ fields to change (omitted = unchanged)."""

    question: str | None = None
    variants: list[str] | None = None
    answer: str | None = None
    links: list[str] | None = None
    tags: list[str] | None = None
    status: Literal["published", "draft", "archived"] | None = None


class MessageBody(BaseModel):
    """An optional message with a ticket action (required for ``reply``)."""

    message: str | None = None


OptMessage = MessageBody | None


class PublishBody(BaseModel):
    """Publish a ticket's answer: as a new FAQ, or its question as a variant of ``faq_id``."""

    mode: Literal["new", "variant"] = "new"
    faq_id: str | None = None
    question: str | None = None
    answer: str | None = None
    tags: list[str] | None = None


class CalibrateBody(BaseModel):
    """Labelled questions (``faq_id`` null = must escalate) and the target precision."""

    records: list[dict[str, Any]]
    target_precision: float = 0.9


# --- asking ---------------------------------------------------------------------------------------------
# The service builds the exact contract (optional keys omitted, source.url may be null): no re-shaping.
@router.post("/{desk}/ask", responses={200: {"model": AskOut}})
def ask(desk: str, body: AskBody, services: Svc, principal: CurrentPrincipal) -> dict:
    """Answer a question as the caller: FAQs first, then the desk's libraries (ACLs hold), else a ticket."""
    return _hd(services).ask(desk, body.question, principal)


@router.post("/{desk}/feedback")
def feedback(desk: str, body: FeedbackBody, services: Svc, principal: CurrentPrincipal) -> dict:
    """Helpful / not helpful; not helpful opens a ticket with the bot's answer attached."""
    return _hd(services).feedback(desk, body.question, body.helpful, principal)


@router.post("/{desk}/human")
def ask_human(desk: str, body: AskBody, services: Svc, principal: CurrentPrincipal) -> dict:
    """Hand a question straight to a human (the widget's "ask a human")."""
    return _hd(services).ask_human(desk, body.question, principal)


# --- desks ----------------------------------------------------------------------------------------------
@router.get("/desks")
def list_desks(services: Svc, principal: CurrentPrincipal) -> dict:
    """All desks."""
    return {"desks": _hd(services).list_desks()}


@router.post("/desks", status_code=201)
def create_desk(body: DeskBody, services: Svc, principal: AdminPrincipal) -> dict:
    """Create a desk (admin)."""
    fields = body.model_dump(exclude={"id"})
    return _hd(services).create_desk(body.id, **fields)


@router.get("/desks/{desk}")
def get_desk(desk: str, services: Svc, principal: CurrentPrincipal) -> dict:
    """One desk."""
    return _hd(services).get_desk(desk)


@router.patch("/desks/{desk}")
def update_desk(desk: str, body: DeskPatch, services: Svc, principal: AdminPrincipal) -> dict:
    """Change a desk (admin)."""
    return _hd(services).update_desk(desk, **body.model_dump())


@router.delete("/desks/{desk}")
def delete_desk(desk: str, services: Svc, principal: AdminPrincipal) -> dict:
    """Delete a desk with its FAQs and tickets (admin)."""
    _hd(services).delete_desk(desk)
    return {"deleted": desk}


# --- FAQs -----------------------------------------------------------------------------------------------
@router.get("/{desk}/faqs")
def list_faqs(desk: str, services: Svc, principal: CurrentPrincipal, status: str | None = None) -> dict:
    """FAQs of a desk (everyone sees published ones; agents may filter by any status)."""
    hd = _hd(services)
    if status != "published" and not hd.is_agent(desk, principal):
        status = "published"
    return {"faqs": hd.list_faqs(desk, status)}


@router.post("/{desk}/faqs", status_code=201)
def create_faq(desk: str, body: FaqBody, services: Svc, principal: CurrentPrincipal) -> dict:
    """Create an FAQ (agents of the desk)."""
    hd = _hd(services)
    hd.require_agent(desk, principal)
    return hd.create_faq(desk, body.model_dump())


@router.get("/{desk}/faqs/{faq_id}")
def get_faq(desk: str, faq_id: str, services: Svc, principal: CurrentPrincipal) -> dict:
    """One FAQ."""
    hd = _hd(services)
    faq = hd.get_faq(desk, faq_id)
    if faq["status"] != "published" and not hd.is_agent(desk, principal):
        raise NotFound(f"unknown FAQ {faq_id} in desk {desk}")
    return faq


@router.patch("/{desk}/faqs/{faq_id}")
def update_faq(desk: str, faq_id: str, body: FaqPatch, services: Svc, principal: CurrentPrincipal) -> dict:
    """Change an FAQ (agents)."""
    hd = _hd(services)
    hd.require_agent(desk, principal)
    return hd.update_faq(desk, faq_id, body.model_dump())


@router.delete("/{desk}/faqs/{faq_id}")
def delete_faq(desk: str, faq_id: str, services: Svc, principal: CurrentPrincipal) -> dict:
    """Delete an FAQ (agents)."""
    hd = _hd(services)
    hd.require_agent(desk, principal)
    hd.delete_faq(desk, faq_id)
    return {"deleted": faq_id}


@router.post("/{desk}/faqs/import")
async def import_faqs(
    desk: str, services: Svc, principal: AdminPrincipal, file: UploadFile = File(...)
) -> dict:
    """Import a CSV or JSONL file (admin; the desk is created if missing); bad rows are reported."""
    data = await file.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge(f"an import file may be at most {MAX_IMPORT_BYTES} bytes")
    rows = parse_file(data, file.filename or "upload.jsonl")
    if len(rows) > MAX_IMPORT_ROWS:
        raise PayloadTooLarge(f"at most {MAX_IMPORT_ROWS} rows per import")
    return _hd(services).import_faqs(desk, rows)


@router.post("/{desk}/faqs/batch")
def batch_faqs(desk: str, records: list[Any], services: Svc, principal: AdminPrincipal) -> dict:
    """Import records given as a JSON array (admin); same report as a file import."""
    if len(records) > MAX_IMPORT_ROWS:
        raise PayloadTooLarge(f"at most {MAX_IMPORT_ROWS} records per batch")
    rows: list[tuple[int, dict | RowError]] = [(i, r) for i, r in enumerate(records, start=1)]
    return _hd(services).import_faqs(desk, rows)


# --- queue, calibration, report -------------------------------------------------------------------------
@router.get("/{desk}/tickets")
def queue(
    desk: str,
    services: Svc,
    principal: CurrentPrincipal,
    state: str | None = None,
    assignee: str | None = None,
    limit: int = Query(100, ge=1, le=500),
) -> dict:
    """The desk's ticket queue for its agents, newest first (filter by state and assignee)."""
    hd = _hd(services)
    hd.require_agent(desk, principal)
    return {"tickets": hd.list_tickets(desk_id=desk, state=state, assignee=assignee, limit=limit)}


@router.post("/{desk}/calibrate")
def calibrate(desk: str, body: CalibrateBody, services: Svc, principal: AdminPrincipal) -> dict:
    """Fit the desk's confidence model on labelled questions and set its threshold (admin)."""
    if not body.records:
        raise BadRequest("records must not be empty")
    return _hd(services).calibrate(desk, body.records, body.target_precision)


@router.get("/{desk}/report")
def report(
    desk: str, services: Svc, principal: CurrentPrincipal, days: int | None = Query(None, ge=1, le=3650)
) -> dict:
    """Desk figures for its agents: bot resolution, escalation, response times, knowledge gaps."""
    hd = _hd(services)
    hd.require_agent(desk, principal)
    return hd.report(desk, days)


# --- tickets --------------------------------------------------------------------------------------------
@router.get("/tickets/mine")
def my_tickets(services: Svc, principal: CurrentPrincipal, state: str | None = None) -> dict:
    """The caller's own tickets."""
    return {"tickets": _hd(services).list_tickets(asker=principal.user, state=state)}


@router.get("/tickets/{ticket_id}")
def get_ticket(ticket_id: int, services: Svc, principal: CurrentPrincipal) -> dict:
    """A ticket with its messages (its asker and the desk's agents)."""
    return _hd(services).get_ticket(ticket_id, principal)


def _act(services: Svc, ticket_id: int, action: str, principal: Principal, body: MessageBody | None) -> dict:
    return _hd(services).act(ticket_id, action, principal, body.message if body else None)


@router.post("/tickets/{ticket_id}/claim")
def claim(ticket_id: int, services: Svc, principal: CurrentPrincipal, body: OptMessage = None) -> dict:
    """open -> assigned to the calling agent."""
    return _act(services, ticket_id, "claim", principal, body)


@router.post("/tickets/{ticket_id}/reply")
def reply(ticket_id: int, body: MessageBody, services: Svc, principal: CurrentPrincipal) -> dict:
    """assigned/answered -> answered, with the agent's message."""
    return _act(services, ticket_id, "reply", principal, body)


@router.post("/tickets/{ticket_id}/resolve")
def resolve(
    ticket_id: int, services: Svc, principal: CurrentPrincipal, body: MessageBody | None = None
) -> dict:
    """answered -> resolved (agent or asker)."""
    return _act(services, ticket_id, "resolve", principal, body)


@router.post("/tickets/{ticket_id}/close")
def close(ticket_id: int, services: Svc, principal: CurrentPrincipal, body: OptMessage = None) -> dict:
    """Any state but closed -> closed (agent or asker)."""
    return _act(services, ticket_id, "close", principal, body)


@router.post("/tickets/{ticket_id}/reopen")
def reopen(ticket_id: int, services: Svc, principal: CurrentPrincipal, body: OptMessage = None) -> dict:
    """resolved/closed -> open (agent or asker)."""
    return _act(services, ticket_id, "reopen", principal, body)


@router.post("/tickets/{ticket_id}/messages")
def comment(ticket_id: int, body: MessageBody, services: Svc, principal: CurrentPrincipal) -> dict:
    """Add a message without changing the state."""
    return _hd(services).comment(ticket_id, principal, body.message or "")


@router.get("/tickets/{ticket_id}/suggestion")
def suggestion(ticket_id: int, services: Svc, principal: CurrentPrincipal) -> dict:
    """Near-duplicate check before publishing: a variant of an existing FAQ, or a new FAQ."""
    return _hd(services).suggest_publication(ticket_id, principal)


@router.post("/tickets/{ticket_id}/publish")
def publish(ticket_id: int, body: PublishBody, services: Svc, principal: CurrentPrincipal) -> dict:
    """Publish the agent's answer as a new FAQ or the question as a variant (agents)."""
    return _hd(services).publish(ticket_id, principal, body.model_dump())
