"""Where features meet: glossary and helpdesk are attached to the core here, never by importing sideways."""

from __future__ import annotations

from fastapi import APIRouter

from glossary.service import GlossaryService
from helpdesk.service import HelpdeskService
from search_api.deps import Services


def wire_features(services: Services) -> None:
    """Create the feature services and connect them to the core (user dictionary, query expansion)."""
    g = GlossaryService(services.kb.db, services.settings)
    services.glossary = g
    # Glossary terms segment as one token, now and whenever terms change.
    services.kb.analyzer.add_words(g.dictionary_words())
    g.subscribe(services.kb.analyzer.add_words)
    services.search.expander = g.expand_query
    services.helpdesk = HelpdeskService(services.kb, services.search, services.settings)


def feature_routers() -> list[APIRouter]:
    """Routers of the features, mounted by the app factory."""
    from search_api.routes import glossary, helpdesk

    return [glossary.router, helpdesk.router]
