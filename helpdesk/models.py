"""Helpdesk tables, declared on the core's :class:`kb.db.Base` (SQLite or PostgreSQL)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kb.db import Base
from kb.store import utcnow

TICKET_STATES = ("open", "assigned", "answered", "resolved", "closed")
FAQ_STATUSES = ("published", "draft", "archived")


class DeskRow(Base):
    """A helpdesk: its FAQs, linked libraries (knowledge-base fallback), agents and confidence model."""

    __tablename__ = "helpdesk_desks"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(300), default="")
    libraries: Mapped[list] = mapped_column(JSON, default=list)
    agent_group: Mapped[str | None] = mapped_column(String(200), nullable=True)
    threshold: Mapped[float] = mapped_column(Float, default=0.5)
    # The fitted confidence model (None: the default model) and when it was fitted.
    calibration: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # Bumped in the same transaction as every FAQ change, so each process knows to rebuild its index.
    faq_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FaqRow(Base):
    """One FAQ entry of a desk; ``faq_id`` is the caller-visible id (kept from imports)."""

    __tablename__ = "helpdesk_faqs"
    __table_args__ = (UniqueConstraint("desk_id", "faq_id"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    desk_id: Mapped[str] = mapped_column(ForeignKey("helpdesk_desks.id", ondelete="CASCADE"), index=True)
    faq_id: Mapped[str] = mapped_column(String(200))
    question: Mapped[str] = mapped_column(Text)
    variants: Mapped[list] = mapped_column(JSON, default=list)
    answer: Mapped[str] = mapped_column(Text)
    links: Mapped[list] = mapped_column(JSON, default=list)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="published")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TicketRow(Base):
    """A question handed to the human queue, with the bot's candidates and the life-cycle timestamps."""

    __tablename__ = "helpdesk_tickets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    desk_id: Mapped[str] = mapped_column(ForeignKey("helpdesk_desks.id", ondelete="CASCADE"), index=True)
    question: Mapped[str] = mapped_column(Text)
    asker: Mapped[str] = mapped_column(String(200), index=True)
    reason: Mapped[str] = mapped_column(String(30), default="low_confidence")
    state: Mapped[str] = mapped_column(String(20), default="open", index=True)
    assignee: Mapped[str | None] = mapped_column(String(200), nullable=True)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    candidates: Mapped[list] = mapped_column(JSON, default=list)
    bot_answer: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    published_faq_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    first_response_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class MessageRow(Base):
    """A message on a ticket (asker, agent, or the bot's attached answer)."""

    __tablename__ = "helpdesk_messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("helpdesk_tickets.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AskRow(Base):
    """One question put to the bot and what it did (the basis of the desk report and of feedback)."""

    __tablename__ = "helpdesk_asks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    desk_id: Mapped[str] = mapped_column(ForeignKey("helpdesk_desks.id", ondelete="CASCADE"), index=True)
    asker: Mapped[str] = mapped_column(String(200), index=True)
    question: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    response: Mapped[dict] = mapped_column(JSON, default=dict)
    ticket_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    feedback: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


def as_utc(dt: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes: treat them as the UTC they were written in."""
    if dt is None or dt.tzinfo is not None:
        return dt
    from datetime import UTC

    return dt.replace(tzinfo=UTC)
