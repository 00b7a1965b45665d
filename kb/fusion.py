"""Fusing ranked lists: reciprocal rank fusion and weighted normalised scores.

Inputs are per-document best scores from each retriever (already collapsed from chunks), best first.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Fused:
    """A fused document with the parts of its score."""

    document_pk: int
    score: float
    parts: dict[str, float] = field(default_factory=dict)
    ranks: dict[str, int] = field(default_factory=dict)
    chunk_pk: int | None = None


Ranked = list[tuple[int, float, int]]  # (document pk, score, best chunk pk), best first


def rrf(lists: dict[str, Ranked], k: int = 60, weights: dict[str, float] | None = None) -> list[Fused]:
    """Reciprocal rank fusion: sum of w / (k + rank) over the lists a document appears in."""
    out: dict[int, Fused] = {}
    for name, ranked in lists.items():
        w = (weights or {}).get(name, 1.0)
        for rank, (doc, score, chunk) in enumerate(ranked, start=1):
            f = out.setdefault(doc, Fused(doc, 0.0, chunk_pk=chunk))
            f.score += w / (k + rank)
            f.parts[name] = score
            f.ranks[name] = rank
    return sorted(out.values(), key=lambda f: (-f.score, f.document_pk))


def _minmax(ranked: Ranked) -> dict[int, float]:
    if not ranked:
        return {}
    scores = [s for _, s, _ in ranked]
    lo, hi = min(scores), max(scores)
    span = hi - lo
    return {d: ((s - lo) / span if span > 0 else 1.0) for d, s, _ in ranked}


def weighted(lists: dict[str, Ranked], weights: dict[str, float]) -> list[Fused]:
    """Weighted sum of min-max normalised scores (a document missing from a list gets 0 there)."""
    out: dict[int, Fused] = {}
    for name, ranked in lists.items():
        norm = _minmax(ranked)
        w = weights.get(name, 1.0)
        for rank, (doc, score, chunk) in enumerate(ranked, start=1):
            f = out.setdefault(doc, Fused(doc, 0.0, chunk_pk=chunk))
            f.score += w * norm[doc]
            f.parts[name] = score
            f.ranks[name] = rank
    return sorted(out.values(), key=lambda f: (-f.score, f.document_pk))


def collapse(hits: list, limit: int | None = None) -> Ranked:
    """Best chunk per document, keeping the order of ``hits`` (ChunkHit objects, best first)."""
    seen: dict[int, tuple[int, float, int]] = {}
    for h in hits:
        if h.document_pk not in seen:
            seen[h.document_pk] = (h.document_pk, h.score, h.chunk_pk)
            if limit and len(seen) >= limit:
                break
    return list(seen.values())
