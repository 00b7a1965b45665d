"""Snippets: the best window of a chunk's text, HTML-escaped, with query terms wrapped in ``<mark>``.

Matching is done on the normalised text (case, width and Traditional/Simplified folded) and mapped back to
the original characters, so a query in Simplified highlights the Traditional original. Chinese terms match
anywhere; Latin terms match at word starts (their stem as a prefix, so "studies" matches query "study").
"""

from __future__ import annotations

import html
import re

from kb.analysis import normalize_with_map

_LATIN = re.compile(r"^[0-9a-z]")


def term_regex(terms: list[str]) -> re.Pattern[str] | None:
    """One alternation for all terms, longest first (Latin terms anchored at a word start)."""
    alts = []
    for t in sorted({t for t in terms if t}, key=len, reverse=True):
        alts.append(rf"(?<![0-9a-z]){re.escape(t)}[0-9a-z]*" if _LATIN.match(t) else re.escape(t))
    return re.compile("|".join(alts)) if alts else None


def _term_spans(norm: str, pattern: re.Pattern[str] | None) -> list[tuple[int, int]]:
    """Leftmost, non-overlapping matches (the regex engine scans left to right, longest alternative first)."""
    if pattern is None:
        return []
    return [m.span() for m in pattern.finditer(norm) if m.end() > m.start()]


def _best_window(spans: list[tuple[int, int]], n: int, width: int) -> int:
    """Start offset (original text) of the window of ``width`` covering the most spans."""
    if not spans or n <= width:
        return 0
    best, best_count, j = 0, -1, 0
    for i, (s, _) in enumerate(spans):
        while j < len(spans) and spans[j][1] <= s + width:
            j += 1
        if j - i > best_count:
            best, best_count = s, j - i
    # Show a little context before the first hit.
    return max(0, min(best - width // 6, n - width))


def make_snippet(text: str, terms: list[str] | re.Pattern[str] | None, width: int = 200) -> str:
    """An HTML-safe snippet of ``text`` around the densest cluster of ``terms`` (normalised words).

    ``terms`` may be precompiled with :func:`_term_regex` once per request.
    """
    pattern = term_regex(terms) if isinstance(terms, list) else terms
    text = " ".join(text.split())
    norm, offsets = normalize_with_map(text)
    spans = [(offsets[s], offsets[e - 1] + 1) for s, e in _term_spans(norm, pattern)] if norm else []
    start = _best_window(spans, len(text), width)
    end = min(len(text), start + width)
    parts: list[str] = ["…"] if start > 0 else []
    pos = start
    for s, e in spans:
        if s < start or e > end:
            continue
        parts.append(html.escape(text[pos:s]))
        parts.append(f"<mark>{html.escape(text[s:e])}</mark>")
        pos = e
    parts.append(html.escape(text[pos:end]))
    if end < len(text):
        parts.append("…")
    return "".join(parts)
