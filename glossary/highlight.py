"""Highlighting inside HTML and Markdown without touching markup.

HTML: a small tolerant tokenizer keeps the exact source offset of every text node, so matches are reported
as offsets into the input. The output is rebuilt from tokens: tags are re-serialised from their parsed name
and attributes (values escaped), text is escaped, unclosed elements are closed and stray end tags dropped,
so the result is well-formed and no input, however malformed, can smuggle markup through. Nothing inside
``a``, ``code``, ``pre``, ``script``, ``style``, ``textarea``, ``title`` or an element with class
``no-glossary`` is highlighted, and attribute values never are.

Markdown: code blocks (fenced and indented), code spans, links and images (text and target), autolinks,
bare URLs, reference definitions and inline HTML are left exactly as they are; the rest is matched.
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Callable

from glossary.matcher import Span

Find = Callable[[str], list[Span]]
Mark = Callable[[int], str]  # entry index -> opening tag
Match = tuple[int, int, int]  # (start, end, entry) in code points of the input

SKIP = frozenset({"a", "code", "pre", "script", "style", "textarea", "title", "kbd", "samp", "svg", "math"})
RAW_TEXT = frozenset({"script", "style", "textarea", "title"})
VOID = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    }
)
_TOKEN = re.compile(
    r"<!--.*?-->"
    r"|<!doctype\b[^>]*>"
    r"|</?([a-zA-Z][a-zA-Z0-9:-]*)"
    r"((?:\s+[^\s\"'>/=]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?)*)\s*(/?)>",
    re.S | re.I,
)
_ATTR = re.compile(r"([^\s\"'>/=]+)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?", re.S)
_ATTR_NAME = re.compile(r"^[a-zA-Z_:][-a-zA-Z0-9_:.]*$")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7};?|#[xX][0-9a-fA-F]{1,6};?|[a-zA-Z][a-zA-Z0-9]{1,31};?)")


def escape(text: str) -> str:
    """HTML-escape text content or an attribute value (quotes included)."""
    return htmllib.escape(text, quote=True)


def _decode(src: str) -> tuple[str, list[int] | None]:
    """Entities decoded, and for each decoded character its offset in ``src`` (None when unchanged)."""
    if "&" not in src:
        return src, None
    parts: list[str] = []
    offs: list[int] = []
    pos = 0
    for m in _ENTITY.finditer(src):
        parts.append(src[pos : m.start()])
        offs.extend(range(pos, m.start()))
        dec = htmllib.unescape(m.group())
        parts.append(dec)
        offs.extend([m.start()] * len(dec))
        pos = m.end()
    parts.append(src[pos:])
    offs.extend(range(pos, len(src)))
    offs.append(len(src))  # sentinel: the end of the last character
    return "".join(parts), offs


def _wrap(text: str, spans: list[Span], mark: Mark, esc: Callable[[str], str]) -> str:
    """``text`` with each span wrapped in ``mark(entry)`` ... ``</mark>``; all pieces pass through ``esc``."""
    out: list[str] = []
    pos = 0
    for start, end, entry in spans:
        out.append(esc(text[pos:start]))
        out.append(mark(entry))
        out.append(esc(text[start:end]))
        out.append("</mark>")
        pos = end
    out.append(esc(text[pos:]))
    return "".join(out)


class _HtmlWriter:
    """Rebuilds HTML from tokens, tracking open elements and whether highlighting is suppressed."""

    def __init__(self, src: str, find: Find, mark: Mark) -> None:
        self.src, self.find, self.mark = src, find, mark
        self.out: list[str] = []
        self.stack: list[tuple[str, bool]] = []  # (name, suppresses highlighting)
        self.matches: list[Match] = []

    @property
    def suppressed(self) -> bool:
        return any(skip for _, skip in self.stack)

    def text(self, a: int, b: int) -> None:
        if a >= b:
            return
        decoded, offs = _decode(self.src[a:b])
        spans = [] if self.suppressed else self.find(decoded)
        for s, e, entry in spans:
            self.matches.append((a + (offs[s] if offs else s), a + (offs[e] if offs else e), entry))
        self.out.append(_wrap(decoded, spans, self.mark, escape))

    def start_tag(self, name: str, attrs: str, self_closing: bool) -> None:
        pairs = _attributes(attrs)
        self.out.append("<" + name + "".join(f' {k}="{escape(v)}"' for k, v in pairs))
        if name in VOID:
            self.out.append(" />")
            return
        self.out.append(">")
        if self_closing:
            self.out.append(f"</{name}>")
            return
        classes = next((v.split() for k, v in pairs if k == "class"), [])
        self.stack.append((name, name in SKIP or "no-glossary" in classes))

    def end_tag(self, name: str) -> None:
        if not any(n == name for n, _ in self.stack):
            return  # a stray end tag: dropped, as browsers do
        while self.stack:
            n, _ = self.stack.pop()
            self.out.append(f"</{n}>")
            if n == name:
                return

    def close_all(self) -> None:
        while self.stack:
            self.out.append(f"</{self.stack.pop()[0]}>")


def _attributes(raw: str) -> list[tuple[str, str]]:
    """Parsed attributes (first of duplicates wins; names that are not plain identifiers are dropped)."""
    out: dict[str, str] = {}
    for m in _ATTR.finditer(raw):
        name = m.group(1).lower()
        if not _ATTR_NAME.match(name) or name in out:
            continue
        v = m.group(2) or ""
        if v[:1] in ("'", '"'):
            v = v[1:-1]
        out[name] = htmllib.unescape(v)
    return list(out.items())


def highlight_html(src: str, find: Find, mark: Mark) -> tuple[list[Match], str]:
    """Matches (offsets into ``src``) and the rewritten, well-formed HTML."""
    w = _HtmlWriter(src, find, mark)
    pos = 0
    while pos < len(src):
        m = _TOKEN.search(src, pos)
        if m is None:
            break
        w.text(pos, m.start())
        pos = m.end()
        tok = m.group()
        if tok.startswith("<!--"):
            w.out.append(tok)
        elif tok[:2].lower() == "<!":
            w.out.append("<!DOCTYPE html>")
        elif tok.startswith("</"):
            w.end_tag(m.group(1).lower())
        else:
            name = m.group(1).lower()
            w.start_tag(name, m.group(2) or "", bool(m.group(3)))
            if name in RAW_TEXT and not m.group(3):
                pos = _raw_text(src, pos, name, w)
    w.text(pos, len(src))
    w.close_all()
    return w.matches, "".join(w.out)


def _raw_text(src: str, pos: int, name: str, w: _HtmlWriter) -> int:
    """Copy a raw-text element's content (script, style...) verbatim up to its end tag."""
    end = re.compile(rf"</{name}\s*>", re.I).search(src, pos)
    stop = end.start() if end else len(src)
    body = src[pos:stop]
    # Script and style are the page's own code and contain no end tag (we cut at it): kept verbatim.
    # Textarea and title hold text with entities: decoded, then escaped again like any text.
    w.out.append(body if name in ("script", "style") else escape(htmllib.unescape(body)))
    if end is None:
        return len(src)
    w.end_tag(name)
    return end.end()


# --- Markdown -------------------------------------------------------------------------------------------
_FENCE = re.compile(
    r"^ {0,3}(`{3,}|~{3,})[^\n]*\n(?:.*?\n)?? {0,3}\1[`~]*[ \t]*(?:\n|$)|^ {0,3}(`{3,}|~{3,}).*\Z",
    re.S | re.M,
)
_INDENTED = re.compile(r"(?:(?<=\n\n)|(?<=\A))(?:(?: {4}|\t)[^\n]*(?:\n|\Z))+", re.M)
_INLINE = re.compile(
    r"(?P<code>(`+)(?!`).+?(?<!`)\2(?!`))"
    r"|(?P<image>!\[(?:[^\[\]]|\[[^\]]*\])*\](?:\((?:[^()]|\([^)]*\))*\)|\[[^\]]*\])?)"
    r"|(?P<link>\[(?:[^\[\]]|\[[^\]]*\])*\](?:\((?:[^()]|\([^)]*\))*\)|\[[^\]]*\]))"
    r"|(?P<refdef>^ {0,3}\[[^\]]+\]:[^\n]*)"
    r"|(?P<htmlel><(?P<el>a|code|pre|script|style|kbd)\b[^>]*>.*?</(?P=el)\s*>)"
    r"|(?P<comment><!--.*?-->)"
    r"|(?P<tag></?[a-zA-Z][^>\n]*>)"
    r"|(?P<url>(?:https?|ftp)://[^\s<>()\[\]]+|www\.[^\s<>()\[\]]+)",
    re.S | re.M | re.I,
)


def _protected_blocks(md: str) -> list[tuple[int, int]]:
    spans = [(m.start(), m.end()) for m in _FENCE.finditer(md)]
    for m in _INDENTED.finditer(md):
        if not any(a <= m.start() < b for a, b in spans):
            spans.append((m.start(), m.end()))
    return _merge(spans)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _free_segments(md: str) -> list[tuple[int, int]]:
    """Parts of ``md`` where terms may be highlighted (outside code, links, URLs and inline HTML)."""
    blocked: list[tuple[int, int]] = []
    prev = 0
    for a, b in _protected_blocks(md) + [(len(md), len(md))]:
        blocked.extend((m.start(), m.end()) for m in _INLINE.finditer(md, prev, a))
        blocked.append((a, b))
        prev = b
    free: list[tuple[int, int]] = []
    pos = 0
    for a, b in _merge(blocked):
        if a > pos:
            free.append((pos, a))
        pos = max(pos, b)
    if pos < len(md):
        free.append((pos, len(md)))
    return free


def highlight_markdown(md: str, find: Find, mark: Mark) -> tuple[list[Match], str]:
    """Matches (offsets into ``md``) and the Markdown with ``<mark>`` inline HTML around each match."""
    matches: list[Match] = []
    for a, b in _free_segments(md):
        matches.extend((a + s, a + e, i) for s, e, i in find(md[a:b]))
    return matches, _wrap(md, matches, mark, lambda t: t)
