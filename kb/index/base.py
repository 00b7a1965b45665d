"""What every index backend shares: the filter applied inside retrieval."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class SearchFilter:
    """Restrictions applied inside retrieval (never by trimming a top-k afterwards).

    ``principals`` None means no ACL restriction (local operator only); otherwise a chunk matches when its
    ACL shares at least one string with it.
    """

    principals: tuple[str, ...] | None = None
    libraries: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    updated_after: datetime | None = None


@dataclass
class ChunkHit:
    """A scored chunk from one retriever."""

    chunk_pk: int
    document_pk: int
    score: float
