"""MediaWiki XML exports (Special:Export / dumpBackup.php, any schema version), streamed with lxml iterparse.

One document per page, from its latest revision; wikitext becomes readable Markdown-ish text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import mwparserfromhell as mwp
from lxml import etree
from mwparserfromhell.nodes import (
    Argument,
    Comment,
    ExternalLink,
    Heading,
    HTMLEntity,
    Tag,
    Template,
    Text,
    Wikilink,
)
from mwparserfromhell.wikicode import Wikicode

from indexer.connectors._common import parse_datetime, walk_files
from kb.models import SkippedFile, SourceDocument

SUFFIXES = (".xml",)
# Namespaces that hold no reader-facing content: talk pages (odd numbers), User, MediaWiki, Template,
# Module and the like. Main (0), Project (4), Help (12) and custom content namespaces are indexed.
_SKIP_NAMESPACES = {2: "user", 6: "file", 8: "mediawiki", 10: "template", 14: "category", 828: "module"}
_DROP_TAGS = {"ref", "references", "gallery", "math", "timeline", "imagemap", "templatedata", "indicator"}
_CATEGORY = ("category:", "分类:", "分類:")
_MEDIA = ("file:", "image:", "media:", "文件:", "檔案:", "图像:", "圖像:")
_REDIRECT = re.compile(r"^\s*#(redirect|重定向)\b", re.IGNORECASE)
_MAGIC = re.compile(r"__[A-Z]+__")


def _local(tag: Any) -> str:
    """An element's tag without its namespace (exports use versioned namespaces: export-0.10, 0.11...)."""
    return etree.QName(tag).localname if isinstance(tag, str) else ""


class _WikiRenderer:
    """Renders parsed wikitext to text; collects category links as tags on the way."""

    def __init__(self) -> None:
        self.categories: list[str] = []

    def render(self, code: Wikicode | None) -> str:
        """Text of a wikicode fragment."""
        return "".join(self._node(n) for n in code.nodes) if code is not None else ""

    def _node(self, node: Any) -> str:
        """Text of one node (templates, comments and refs render as nothing)."""
        if isinstance(node, Text):
            return _MAGIC.sub("", str(node))
        if isinstance(node, Heading):
            return f"\n{'#' * node.level} {self.render(node.title).strip()}\n"
        if isinstance(node, Wikilink):
            return self._link(node)
        if isinstance(node, ExternalLink):
            return self.render(node.title).strip() if node.title else str(node.url)
        if isinstance(node, HTMLEntity):
            return node.normalize()
        if isinstance(node, Tag):
            return self._tag(node)
        if isinstance(node, (Template, Argument, Comment)):
            return ""
        return str(node)

    def _link(self, node: Wikilink) -> str:
        """A wiki link's label (or target); categories become tags, media links are dropped."""
        target = str(node.title).strip()
        low = target.lower().lstrip(":")
        if low.startswith(_CATEGORY) and not target.startswith(":"):
            self.categories.append(target.split(":", 1)[1].strip())
            return ""
        if low.startswith(_MEDIA):
            return ""
        if node.text:
            return self.render(node.text)
        return target.lstrip(":").split("#", 1)[0] or target

    def _tag(self, node: Tag) -> str:
        """HTML-ish and wiki-markup tags: lists, tables, line breaks, formatting."""
        name = str(node.tag).strip().lower()
        if name in _DROP_TAGS:
            return ""
        if name == "li":
            return "- "
        if name in ("dt", "dd"):
            return ""
        if name in ("br", "hr"):
            return "\n"
        if name == "table":
            return "\n" + self._table(node) + "\n"
        return self.render(node.contents) if node.contents is not None else ""

    def _table(self, node: Tag) -> str:
        """Rows as `` | ``-joined cells; header cells before the first ``|-`` form the first row."""
        rows: list[list[str]] = [[]]
        for child in node.contents.nodes if node.contents is not None else []:
            if not isinstance(child, Tag):
                continue
            name = str(child.tag).lower()
            if name == "tr":
                rows.append(self._cells(child))
            elif name in ("td", "th"):
                rows[0].append(self._cell(child))
            elif name == "caption":
                rows.insert(0, [self._cell(child)])
        return "\n".join(" | ".join(r) for r in rows if any(r))

    def _cells(self, row: Tag) -> list[str]:
        """The cell texts of one table row."""
        nodes = row.contents.nodes if row.contents is not None else []
        return [self._cell(c) for c in nodes if isinstance(c, Tag) and str(c.tag).lower() in ("td", "th")]

    def _cell(self, cell: Tag) -> str:
        """A cell's text on one line."""
        return re.sub(r"\s+", " ", self.render(cell.contents)).strip(" -")


def wikitext_to_text(wikitext: str) -> tuple[str, list[str]]:
    """``(text, categories)``: wikitext as readable text with ``#`` headings and ``- `` list items."""
    renderer = _WikiRenderer()
    raw = renderer.render(mwp.parse(wikitext))
    lines = []
    for line in raw.splitlines():
        # '** item' renders as two markers: keep one, indented by nesting depth.
        line = re.sub(r"^(?:- )+", lambda m: "  " * (len(m.group(0)) // 2 - 1) + "- ", line.strip())
        line = re.sub(r"[ \t\u00a0]+", " ", line)
        lines.append(line)
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text, renderer.categories


def _child_text(elem: Any, name: str) -> str | None:
    """Text of the first direct child named ``name`` (any namespace)."""
    for child in elem:
        if _local(child.tag) == name:
            return child.text or ""
    return None


def _latest_revision(page: Any) -> Any | None:
    """The revision with the greatest timestamp; ties and missing timestamps go to the later one in file."""
    best, best_ts = None, ""
    for rev in page:
        if _local(rev.tag) != "revision":
            continue
        ts = _child_text(rev, "timestamp") or ""
        if best is None or ts >= best_ts:
            best, best_ts = rev, ts
    return best


def page_to_document(page: Any, base_url: str | None, where: str) -> SourceDocument | SkippedFile:
    """A document from one ``<page>`` element, or why it is skipped."""
    title = (_child_text(page, "title") or "").strip()
    ns = int((_child_text(page, "ns") or "0").strip() or 0)
    label = f"{where}#{title}"
    if ns % 2 == 1 or ns in _SKIP_NAMESPACES:
        return SkippedFile(label, f"namespace {ns} ({_SKIP_NAMESPACES.get(ns, 'talk')}) not indexed")
    rev = _latest_revision(page)
    wikitext = _child_text(rev, "text") if rev is not None else None
    if not title or wikitext is None:
        return SkippedFile(label, "page without title or revision text")
    if any(_local(c.tag) == "redirect" for c in page) or _REDIRECT.match(wikitext):
        return SkippedFile(label, "redirect")
    text, categories = wikitext_to_text(wikitext)
    contributor = next((c for c in rev if _local(c.tag) == "contributor"), None)
    meta = {"page_id": _child_text(page, "id"), "revision_id": _child_text(rev, "id"), "namespace": ns}
    if contributor is not None and _child_text(contributor, "username"):
        meta["author"] = _child_text(contributor, "username")
    return SourceDocument(
        doc_id=title,
        title=title,
        text=text,
        url=f"{base_url}/{quote(title.replace(' ', '_'))}" if base_url else None,
        tags=list(dict.fromkeys(categories)),
        metadata={k: v for k, v in meta.items() if v is not None},
        updated_at=parse_datetime(_child_text(rev, "timestamp")),
        text_format="markdown",
    )


def _site_base(elem: Any) -> str | None:
    """The article path prefix from ``<siteinfo><base>`` (e.g. ``https://wiki/index.php``)."""
    base = _child_text(elem, "base")
    return base.strip().rsplit("/", 1)[0] if base and "/" in base else None


def iter_mediawiki_file(path: Path, *, max_file_bytes: int) -> Iterator[SourceDocument | SkippedFile]:
    """Yield one document per page of an export; malformed XML ends the file with one SkippedFile."""
    base_url: str | None = None
    # No entity resolution and no network: an export is data, never a way to read local files (XXE).
    events = etree.iterparse(
        str(path), events=("end",), resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True
    )
    try:
        for _event, elem in events:
            name = _local(elem.tag)
            if name == "siteinfo":
                base_url = _site_base(elem)
            elif name == "page":
                yield _page(elem, base_url, str(path), max_file_bytes)
                elem.clear()
                # Free already-processed siblings so memory stays flat on big exports.
                while elem.getprevious() is not None:
                    del elem.getparent()[0]
    except etree.XMLSyntaxError as e:
        yield SkippedFile(str(path), f"malformed XML: {e}")
    except OSError as e:
        yield SkippedFile(str(path), f"cannot read file: {e}")


def _page(elem: Any, base_url: str | None, where: str, max_bytes: int) -> SourceDocument | SkippedFile:
    """One page, guarded: ``max_bytes`` applies per page (the export is streamed) and a wikitext parser
    failure skips the page instead of ending the file."""
    try:
        item = page_to_document(elem, base_url, where)
    except Exception as e:  # noqa: BLE001 - mwparserfromhell edge cases must not stop the export
        return SkippedFile(f"{where}#{_child_text(elem, 'title')}", f"cannot parse page: {e}")
    if isinstance(item, SourceDocument) and len(item.text.encode("utf-8")) > max_bytes:
        return SkippedFile(f"{where}#{item.doc_id}", f"page text too large (> max_file_bytes {max_bytes})")
    return item


def iter_mediawiki(root: Path, *, max_file_bytes: int) -> Iterator[SourceDocument | SkippedFile]:
    """Yield the pages of every export under ``root`` (or of ``root`` itself)."""
    for path in walk_files(root, SUFFIXES):
        yield from iter_mediawiki_file(path, max_file_bytes=max_file_bytes)
