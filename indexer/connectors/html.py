"""A folder of HTML pages: boilerplate stripped, structure kept as Markdown-ish text for the chunker."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser, LexborNode

from indexer.connectors._common import file_mtime, parse_list, read_text, relative_id, walk_files
from kb.models import SkippedFile, SourceDocument

SUFFIXES = (".html", ".htm")
# Page chrome and non-content elements: their text would pollute every page's chunks with the same menus.
# (<form> is kept: ASP.NET WebForms intranet pages wrap the whole body in one.)
_STRIP = ["script", "style", "nav", "aside", "noscript", "template", "iframe", "svg", "button"]
# Page header/footer are chrome, but an <article>'s own header holds its heading and byline.
_CHROME = ("header", "footer")
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_LISTS = {"ul", "ol"}
# Inline elements continue the running paragraph; any other element (div, section, form, custom
# elements...) is treated as a block, so text in unknown containers is never glued to its neighbours.
_INLINE = {
    "a", "abbr", "b", "bdi", "bdo", "big", "cite", "code", "data", "del", "dfn", "em", "font", "i", "img",
    "ins", "kbd", "label", "mark", "nobr", "q", "s", "samp", "small", "span", "strike", "strong", "sub",
    "sup", "time", "tt", "u", "var", "wbr",
}  # fmt: skip
_WS = re.compile(r"\s+")


def _inline(node: LexborNode) -> str:
    """All text inside ``node`` with whitespace collapsed (as a browser renders inline content)."""
    return _WS.sub(" ", node.text(deep=True, separator=" ")).strip()


class _Renderer:
    """Walks a DOM and collects blocks: headings as ``#`` lines, list items, table rows, paragraphs."""

    def __init__(self) -> None:
        self.blocks: list[str] = []
        self._buf: list[str] = []

    def flush(self) -> None:
        """End the current paragraph of loose inline text."""
        # Text nodes carry their own whitespace, so pieces are concatenated, not space-joined.
        text = _WS.sub(" ", "".join(self._buf)).strip()
        if text:
            self.blocks.append(text)
        self._buf = []

    def walk(self, node: LexborNode, depth: int = 0) -> None:
        """Render the children of ``node`` (``depth`` is the list nesting level)."""
        for child in node.iter(include_text=True):
            tag = child.tag
            if tag == "-text":
                self._buf.append(child.text(deep=False))
            elif tag in _HEADINGS:
                self._block("#" * _HEADINGS[tag] + " " + _inline(child))
            elif tag in _LISTS:
                self.flush()
                self._list(child, depth)
            elif tag == "table":
                self.flush()
                self._table(child)
            elif tag == "pre":
                self._block(child.text(deep=True).strip("\n"))
            elif tag == "br":
                self.flush()
            elif tag in _INLINE:
                # Part of the running paragraph, its spacing kept as is.
                self._buf.append(child.text(deep=True))
            elif tag and not tag.startswith("-"):  # block element ("-comment" etc. are not elements)
                self.flush()
                self.walk(child, depth)
                self.flush()

    def _block(self, text: str) -> None:
        """Emit a standalone block (after ending the running paragraph)."""
        self.flush()
        if text.strip(" #"):
            self.blocks.append(text)

    def _list(self, node: LexborNode, depth: int) -> None:
        """List items as ``- `` lines; nested lists indented two spaces per level."""
        items: list[str] = []
        for li in node.iter():
            if li.tag != "li":
                continue
            own = [c for c in li.iter(include_text=True) if c.tag not in _LISTS]
            text = _WS.sub(" ", " ".join(_inline(c) if c.tag != "-text" else c.text() for c in own)).strip()
            if text:
                items.append("  " * depth + "- " + text)
            for sub in li.iter():
                if sub.tag in _LISTS:
                    sub_r = _Renderer()
                    sub_r._list(sub, depth + 1)
                    items.extend(sub_r.blocks)
        if items:
            # One block so the chunker keeps a list together like a Markdown list.
            self.blocks.append("\n".join(items))

    def _table(self, node: LexborNode) -> None:
        """Table rows as `` | ``-joined cells, one row per line."""
        rows = []
        for tr in node.css("tr"):
            cells = [_inline(c) for c in tr.iter() if c.tag in ("td", "th")]
            if any(cells):
                rows.append(" | ".join(cells))
        if rows:
            self.blocks.append("\n".join(rows))


def _inside(node: LexborNode, tags: tuple[str, ...]) -> bool:
    """True when an ancestor of ``node`` has one of ``tags``."""
    parent = node.parent
    while parent is not None:
        if parent.tag in tags:
            return True
        parent = parent.parent
    return False


def html_to_text(html: str) -> tuple[str, str | None, LexborHTMLParser]:
    """``(text, title, tree)`` of an HTML page; the text is Markdown-ish (``#`` headings, ``-`` items)."""
    tree = LexborHTMLParser(html)
    title_node = tree.css_first("title")
    title = _inline(title_node) if title_node else None
    if not title:
        h1 = tree.css_first("h1")
        title = _inline(h1) if h1 else None
    tree.strip_tags(_STRIP)
    for node in tree.css(", ".join(_CHROME)):
        if not _inside(node, ("article", "main")):
            node.decompose()
    renderer = _Renderer()
    if tree.body is not None:
        renderer.walk(tree.body)
        renderer.flush()
    return "\n\n".join(renderer.blocks), title or None, tree


def _meta(tree: LexborHTMLParser, name: str) -> str | None:
    """The content of ``<meta name=...>`` if present."""
    node = tree.css_first(f'meta[name="{name}"]')
    return (node.attributes.get("content") or None) if node else None


def parse_html(html: str, doc_id: str, path: Path) -> SourceDocument | None:
    """Build a document from a page; None when it has neither title nor text."""
    text, title, tree = html_to_text(html)
    if not text and not title:
        return None
    canonical = tree.css_first('link[rel="canonical"]')
    return SourceDocument(
        doc_id=doc_id,
        title=title or path.stem,
        text=text,
        url=(canonical.attributes.get("href") if canonical else None) or None,
        tags=parse_list(_meta(tree, "keywords")),
        metadata={"source_path": str(path)},
        updated_at=file_mtime(path),
        text_format="markdown",
    )


def iter_html(root: Path, *, max_file_bytes: int) -> Iterator[SourceDocument | SkippedFile]:
    """Yield one document per HTML file under ``root``; unreadable files become SkippedFile."""
    for path in walk_files(root, SUFFIXES):
        text = read_text(path, max_file_bytes, html=True)
        if isinstance(text, SkippedFile):
            yield text
            continue
        try:
            doc = parse_html(text, relative_id(path, root), path)
        except Exception as e:  # noqa: BLE001 - a parser bug on one page must not stop the folder
            yield SkippedFile(str(path), f"cannot parse HTML: {e}")
            continue
        yield doc if doc else SkippedFile(str(path), "no text content")
