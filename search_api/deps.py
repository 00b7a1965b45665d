"""FastAPI dependencies: the service container, the request's principal, admin checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request

from kb.engine import KnowledgeBase
from kb.errors import Forbidden, Unauthorized
from kb.models import Principal
from kb.search import SearchService
from kb.settings import Settings

# What a request runs as when KB_AUTH=off (local demos only; the server warns loudly at start-up).
LOCAL_DEMO = Principal(user="local-demo", admin=True, superuser=True)


@dataclass
class Services:
    """Everything the routes use, built once by the app factory."""

    settings: Settings
    kb: KnowledgeBase
    search: SearchService
    glossary: Any = None
    helpdesk: Any = None


def get_services(request: Request) -> Services:
    """The app's service container."""
    return request.app.state.services


Svc = Annotated[Services, Depends(get_services)]


def get_principal(services: Svc, authorization: Annotated[str | None, Header()] = None) -> Principal:
    """Resolve the bearer token to a principal (or the demo principal when auth is off)."""
    if services.settings.auth == "off":
        return LOCAL_DEMO
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("missing bearer token (Authorization: Bearer <token>)")
    return services.kb.tokens.resolve(authorization.split(None, 1)[1].strip())


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require_admin(principal: CurrentPrincipal) -> Principal:
    """Only admin tokens may write."""
    if not principal.admin:
        raise Forbidden("this operation needs an admin token")
    return principal


AdminPrincipal = Annotated[Principal, Depends(require_admin)]
