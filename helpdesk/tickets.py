"""The ticket life cycle: each action is one conditional UPDATE in one transaction, so two agents claiming the
same ticket cannot both win and a crash never leaves a half-applied state change.

    open -> assigned (claim) -> answered (reply) -> resolved (resolve)
    open | assigned | answered | resolved -> closed (close)
    resolved | closed -> open (reopen)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from helpdesk.models import MessageRow, TicketRow, as_utc
from kb.errors import Conflict, NotFound
from kb.store import utcnow


@dataclass(frozen=True)
class Transition:
    """An action: the states it may start from and the state it leads to."""

    sources: tuple[str, ...]
    target: str


TRANSITIONS: dict[str, Transition] = {
    "claim": Transition(("open",), "assigned"),
    "reply": Transition(("assigned", "answered"), "answered"),
    "resolve": Transition(("answered",), "resolved"),
    "close": Transition(("open", "assigned", "answered", "resolved"), "closed"),
    "reopen": Transition(("resolved", "closed"), "open"),
}


def _stamps(action: str, user: str, now: datetime) -> dict[str, Any]:
    """Column values an action sets besides the state."""
    values: dict[str, Any] = {"updated_at": now}
    if action == "claim":
        values["assignee"] = user
    elif action == "resolve":
        values["resolved_at"] = now
    elif action == "close":
        values["closed_at"] = now
    elif action == "reopen":
        # A reopened ticket goes back to the queue for anyone to claim.
        values.update(assignee=None, resolved_at=None, closed_at=None)
    return values


def apply(s: Session, ticket_id: int, action: str, user: str) -> TicketRow:
    """Apply ``action`` to a ticket inside session ``s``; Conflict (409) names the state that forbids it."""
    tr = TRANSITIONS[action]
    now = utcnow()
    res = s.execute(
        update(TicketRow)
        .where(TicketRow.id == ticket_id, TicketRow.state.in_(tr.sources))
        .values(state=tr.target, **_stamps(action, user, now))
    )
    if res.rowcount == 0:
        state = s.scalar(select(TicketRow.state).where(TicketRow.id == ticket_id))
        if state is None:
            raise NotFound(f"unknown ticket: {ticket_id}")
        allowed = " or ".join(tr.sources)
        raise Conflict(
            f"cannot {action} a ticket that is {state} (only from {allowed})",
            details={"state": state, "action": action},
        )
    if action == "reply":
        # First response time counts from the first agent reply only.
        s.execute(
            update(TicketRow)
            .where(TicketRow.id == ticket_id, TicketRow.first_response_at.is_(None))
            .values(first_response_at=now)
        )
    row = s.get(TicketRow, ticket_id)
    s.refresh(row)
    return row


def add_message(s: Session, ticket_id: int, author: str, role: str, body: str) -> None:
    """Append a message to a ticket (same transaction as the state change it belongs to)."""
    s.add(MessageRow(ticket_id=ticket_id, author=author, role=role, body=body, created_at=utcnow()))


def _iso(dt: datetime | None) -> str | None:
    dt = as_utc(dt)
    return dt.isoformat() if dt else None


def ticket_dict(row: TicketRow, messages: list[MessageRow] | None = None) -> dict[str, Any]:
    """JSON form of a ticket (with its messages when given)."""
    out: dict[str, Any] = {
        "id": row.id,
        "desk": row.desk_id,
        "question": row.question,
        "asker": row.asker,
        "reason": row.reason,
        "state": row.state,
        "assignee": row.assignee,
        "confidence": row.confidence,
        "candidates": row.candidates or [],
        "bot_answer": row.bot_answer,
        "published_faq_id": row.published_faq_id,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
        "first_response_at": _iso(row.first_response_at),
        "resolved_at": _iso(row.resolved_at),
        "closed_at": _iso(row.closed_at),
    }
    if messages is not None:
        out["messages"] = [
            {"author": m.author, "role": m.role, "body": m.body, "created_at": _iso(m.created_at)}
            for m in messages
        ]
    return out


def messages_of(s: Session, ticket_id: int) -> list[MessageRow]:
    """A ticket's messages, oldest first."""
    return list(
        s.scalars(select(MessageRow).where(MessageRow.ticket_id == ticket_id).order_by(MessageRow.id))
    )
