"""Where features meet: glossary and helpdesk are attached to the core here, never by importing sideways."""

from __future__ import annotations

from fastapi import APIRouter

from search_api.deps import Services


def wire_features(services: Services) -> None:
    """Create the feature services and connect them to the core (query expansion, user dictionary)."""
    return None


def feature_routers() -> list[APIRouter]:
    """Routers of the features, mounted by the app factory."""
    return []
