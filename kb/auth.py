"""API tokens: random bearer secrets, stored only as SHA-256 hashes, each bound to a user, groups, admin."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, String, select
from sqlalchemy.orm import Mapped, mapped_column

from kb.db import Base, Database
from kb.errors import BadRequest, Unauthorized
from kb.models import Principal
from kb.store import utcnow


class TokenRow(Base):
    """One issued token (the secret itself is never stored)."""

    __tablename__ = "tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user: Mapped[str] = mapped_column(String(200), index=True)
    groups: Mapped[list] = mapped_column(JSON, default=list)
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _clean_groups(groups: list[str]) -> list[str]:
    out = []
    for g in groups:
        g = g.strip()
        if g.startswith("group:"):
            g = g[len("group:") :]
        if g and g not in out:
            out.append(g)
    return out


class TokenStore:
    """Issue and resolve bearer tokens."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, user: str, groups: list[str] | None = None, admin: bool = False) -> str:
        """Issue a new token for ``user``; returns the secret (shown once)."""
        user = (user or "").strip()
        if not user or ":" in user:
            raise BadRequest("user must be a non-empty id without ':'")
        token = "kb_" + secrets.token_urlsafe(32)
        with self.db.session() as s:
            s.add(
                TokenRow(token_hash=_hash(token), user=user, groups=_clean_groups(groups or []), admin=admin)
            )
        return token

    def resolve(self, token: str) -> Principal:
        """The principal of a token; Unauthorized if unknown."""
        with self.db.session() as s:
            row = s.get(TokenRow, _hash(token))
        if row is None:
            raise Unauthorized("invalid or revoked token")
        return Principal(user=row.user, groups=tuple(row.groups or []), admin=bool(row.admin))

    def principal_for_user(self, user: str) -> Principal:
        """The principal of ``user`` with the groups of their latest token (none if they have none)."""
        with self.db.session() as s:
            row = s.scalars(
                select(TokenRow).where(TokenRow.user == user).order_by(TokenRow.created_at.desc())
            ).first()
        groups = tuple(row.groups or []) if row else ()
        return Principal(user=user, groups=groups, admin=bool(row.admin) if row else False)
