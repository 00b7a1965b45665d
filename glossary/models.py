"""Glossary tables, declared on the core's :class:`kb.db.Base` (SQLite and PostgreSQL alike).

Every write also appends to ``glossary_changes``; each process replays that log to keep its in-memory
matcher current, so a term added from the CLI shows up in a running server within a second.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kb.db import Base
from kb.store import utcnow


class GlossaryTermRow(Base):
    """One glossary entry; (normalised term, scope) is unique so duplicates are refused, not merged."""

    __tablename__ = "glossary_terms"
    __table_args__ = (UniqueConstraint("norm_term", "scope_key", name="uq_glossary_term_scope"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    term: Mapped[str] = mapped_column(String(300))
    norm_term: Mapped[str] = mapped_column(String(300), index=True)
    aliases: Mapped[list] = mapped_column(JSON, default=list)  # [{"text", "highlight", "search"}]
    definition: Mapped[str] = mapped_column(Text, default="")
    links: Mapped[list] = mapped_column(JSON, default=list)  # [{"url"} | {"doc": "library/doc_id"}, "title"?]
    category: Mapped[str | None] = mapped_column(String(200), nullable=True)
    language: Mapped[str | None] = mapped_column(String(20), nullable=True)
    scope: Mapped[list] = mapped_column(JSON, default=list)  # library names; empty = global
    scope_key: Mapped[str] = mapped_column(String(1000), default="")
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="approved", index=True)
    inflect: Mapped[bool] = mapped_column(Boolean, default=True)
    examples: Mapped[list] = mapped_column(JSON, default=list)  # example sentences (term suggestions)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GlossaryChangeRow(Base):
    """Change log of glossary entries: one row per write or delete, replayed by every process."""

    __tablename__ = "glossary_changes"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    term_id: Mapped[int] = mapped_column(Integer, index=True)
    op: Mapped[str] = mapped_column(String(10))
