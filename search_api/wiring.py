"""Where features meet: glossary and helpdesk are attached to the core here, never by importing sideways."""

from __future__ import annotations

import logging

from fastapi import APIRouter

from search_api.deps import Services

log = logging.getLogger(__name__)


def wire_features(services: Services) -> None:
    """Create the feature services and connect them to the core (user dictionary, query expansion)."""
    try:
        from glossary.service import GlossaryService
    except ImportError:  # feature not present in this build
        GlossaryService = None  # noqa: N806
    if GlossaryService is not None:
        g = GlossaryService(services.kb.db, services.settings)
        services.glossary = g
        # Glossary terms segment as one token, now and whenever terms change.
        services.kb.analyzer.add_words(g.dictionary_words())
        g.subscribe(services.kb.analyzer.add_words)
        services.search.expander = g.expand_query
    try:
        from helpdesk.service import HelpdeskService
    except ImportError:
        HelpdeskService = None  # noqa: N806
    if HelpdeskService is not None:
        services.helpdesk = HelpdeskService(services.kb, services.search, services.settings)


def feature_routers() -> list[APIRouter]:
    """Routers of the features, mounted by the app factory."""
    routers: list[APIRouter] = []
    for name in ("glossary", "helpdesk"):
        try:
            mod = __import__(f"search_api.routes.{name}", fromlist=["router"])
        except ImportError:
            continue
        routers.append(mod.router)
    return routers
