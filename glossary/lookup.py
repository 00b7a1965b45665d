"""Ranking for ``GET /v1/glossary/lookup``: exact, then prefix (autocomplete), then fuzzy (rapidfuzz)."""

from __future__ import annotations

from bisect import bisect_left

from rapidfuzz import fuzz, process

FUZZY_CUTOFF = 70.0
MAX_PREFIX = 200


def rank(
    q: str, index: tuple[list[str], list[tuple[int, str]]], limit: int
) -> list[tuple[int, str, float, str]]:
    """``(term id, surface, score, kind)`` best first, one row per term; ``q`` is already normalised."""
    norms, owners = index
    best: dict[int, tuple[float, str, str]] = {}

    def offer(i: int, score: float, kind: str) -> None:
        rid, surface = owners[i]
        if rid not in best or best[rid][0] < score:
            best[rid] = (score, surface, kind)

    i = bisect_left(norms, q)
    # Prefix hits (exact ones sort first): shorter completions rank higher, as a search box expects.
    for j in range(i, min(len(norms), i + MAX_PREFIX)):
        if not norms[j].startswith(q):
            break
        offer(
            j,
            200.0 if norms[j] == q else 100.0 + 99.0 * len(q) / len(norms[j]),
            "exact" if norms[j] == q else "prefix",
        )
    if len(best) < limit and norms:
        for _, score, j in process.extract(
            q, norms, scorer=fuzz.WRatio, limit=limit * 3, score_cutoff=FUZZY_CUTOFF
        ):
            offer(j, float(score), "fuzzy")
    ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[1][1]))[:limit]
    return [(rid, surface, min(score, 200.0) / 2, kind) for rid, (score, surface, kind) in ranked]
