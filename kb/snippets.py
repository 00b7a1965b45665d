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


def _term_spans(norm: str, terms: list[str]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for t in sorted(set(terms), key=len, reverse=True):
        if not t:
            continue
        if _LATIN.match(t):
            pat = re.compile(rf"(?<![0-9a-z]){re.escape(t)}[0-9a-z]*")
        else:
            pat = re.compile(re.escape(t))
        spans.extend((m.start(), m.end()) for m in pat.finditer(norm))
    # Keep leftmost-longest, non-overlapping spans.
    spans.sort(key=lambda s: (s[0], -(s[1] - s[0])))
    out: list[tuple[int, int]] = []
    for s in spans:
        if not out or s[0] >= out[-1][1]:
            out.append(s)
    return out


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


def make_snippet(text: str, terms: list[str], width: int = 200) -> str:
    """An HTML-safe snippet of ``text`` around the densest cluster of ``terms`` (normalised words)."""
    text = " ".join(text.split())
    norm, offsets = normalize_with_map(text)
    spans = [(offsets[s], offsets[e - 1] + 1) for s, e in _term_spans(norm, terms)] if norm else []
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
