"""Shared fixtures: a throw-away KB_HOME per test, one embedder per session, an API client with tokens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPORA = ROOT / "corpora"


@pytest.fixture(scope="session")
def embedder():
    """One embedder for the whole session (loading a model is the slow part)."""
    from kb.embeddings.base import make_embedder
    from kb.settings import Settings

    return make_embedder(Settings(embedder="e5"))


@pytest.fixture
def settings(tmp_path: Path):
    """Settings with a fresh data directory and auth on."""
    from kb.settings import Settings

    return Settings(home=tmp_path / "kbhome", auth="on", embedder="e5")


@pytest.fixture
def kb(settings, embedder):
    """A fresh knowledge base using the session embedder."""
    from kb.engine import KnowledgeBase

    return KnowledgeBase(settings, embedder=embedder)


@pytest.fixture
def services(settings, kb):
    """The service container the API and CLI use (features wired)."""
    from search_api.app import build_services

    return build_services(settings, kb=kb)


@pytest.fixture
def client(services) -> Iterator:
    """A TestClient over the full app (auth on)."""
    from fastapi.testclient import TestClient

    from search_api.app import create_app

    with TestClient(create_app(services.settings, services=services), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def tokens(kb) -> dict[str, str]:
    """Tokens: admin, alice (groups risk-team), bob (no groups)."""
    return {
        "admin": kb.tokens.create("root", ["ops"], admin=True),
        "alice": kb.tokens.create("alice", ["risk-team"]),
        "bob": kb.tokens.create("bob", []),
    }


def auth(token: str) -> dict[str, str]:
    """Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}
