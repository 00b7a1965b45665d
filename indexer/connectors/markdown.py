"""A folder of Markdown files (a wiki space): one document per ``.md`` file, YAML front matter honoured."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from indexer.connectors._common import (
    file_mtime,
    jsonable,
    parse_acl,
    parse_datetime,
    parse_list,
    read_text,
    relative_id,
    walk_files,
)
from kb.models import SkippedFile, SourceDocument

SUFFIXES = (".md", ".markdown")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_H1 = re.compile(r"^#[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_KNOWN_KEYS = {"title", "tags", "acl", "url", "updated", "date", "updated_at"}


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """``(front_matter, body)``; raises ValueError when a front matter block is present but not a mapping."""
    m = _FRONT_MATTER.match(text)
    if not m:
        return {}, text
    try:
        meta = yaml.safe_load(m.group(1))
    except yaml.YAMLError as e:
        raise ValueError(f"malformed front matter: {str(e).splitlines()[0]}") from e
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise ValueError("malformed front matter: not a key/value mapping")
    return meta, text[m.end() :]


def _title(meta: dict[str, Any], body: str, path: Path) -> str:
    """Front matter title, else the first level-1 heading, else the file stem."""
    if meta.get("title"):
        return str(meta["title"]).strip()
    m = _H1.search(body)
    return m.group(1).strip() if m else path.stem


def parse_markdown(text: str, doc_id: str, path: Path) -> SourceDocument:
    """Build a document from a Markdown file's text (raises ValueError on malformed front matter)."""
    meta, body = split_front_matter(text)
    updated = parse_datetime(meta.get("updated") or meta.get("updated_at") or meta.get("date"))
    extra = {k: jsonable(v) for k, v in meta.items() if k not in _KNOWN_KEYS}
    return SourceDocument(
        doc_id=doc_id,
        title=_title(meta, body, path),
        text=body.strip(),
        url=str(meta["url"]) if meta.get("url") else None,
        tags=parse_list(meta.get("tags")),
        acl=parse_acl(meta.get("acl")),
        metadata={**extra, "source_path": str(path)},
        updated_at=updated or file_mtime(path),
        text_format="markdown",
    )


def iter_markdown(root: Path, *, max_file_bytes: int) -> Iterator[SourceDocument | SkippedFile]:
    """Yield one document per Markdown file under ``root``; unreadable files become SkippedFile."""
    for path in walk_files(root, SUFFIXES):
        text = read_text(path, max_file_bytes)
        if isinstance(text, SkippedFile):
            yield text
            continue
        try:
            # A file whose front matter cannot be read is skipped, not ingested without it: its ACL would
            # be lost and a restricted page would become public.
            yield parse_markdown(text, relative_id(path, root), path)
        except ValueError as e:
            yield SkippedFile(str(path), str(e))
