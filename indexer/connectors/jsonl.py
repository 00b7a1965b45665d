"""JSON Lines exports (optionally gzipped), including BEIR ``corpus.jsonl.gz`` files as they are.

The file is streamed: ``max_file_bytes`` bounds each record (line), not the file, so a large corpus can be
ingested without holding it in memory.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from indexer.connectors._common import jsonable, parse_acl, parse_datetime, parse_list, walk_files
from kb.models import SkippedFile, SourceDocument

SUFFIXES = (".jsonl", ".jsonl.gz", ".json.gz", ".ndjson")
_KNOWN_KEYS = {"id", "_id", "doc_id", "title", "text", "url", "tags", "acl", "metadata", "updated_at"}


def _open(path: Path) -> IO[bytes]:
    """The file as a binary stream, transparently gunzipped."""
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


def _lines(stream: IO[bytes], limit: int) -> Iterator[tuple[int, bytes | None]]:
    """``(lineno, line)`` pairs; ``line`` is None for a line longer than ``limit`` (which is skipped over)."""
    lineno = 0
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        lineno += 1
        if len(line) > limit and not line.endswith(b"\n"):
            # Drain the rest of the over-long line in bounded reads instead of loading it.
            while (part := stream.readline(limit + 1)) and not part.endswith(b"\n"):
                pass
            yield lineno, None
        else:
            yield lineno, line


def record_to_document(rec: dict[str, Any]) -> SourceDocument | str:
    """A document from one JSON object, or the reason it cannot be one."""
    raw_id = next((rec[k] for k in ("id", "_id", "doc_id") if rec.get(k) not in (None, "")), None)
    if raw_id is None or isinstance(raw_id, (dict, list, bool)):
        return "missing id (expected 'id' or '_id')"
    text, title = rec.get("text"), rec.get("title")
    if not isinstance(text, str):
        return "missing text"
    title = str(title).strip() if title is not None else ""
    if not text.strip() and not title:
        return "empty text and title"
    meta = rec.get("metadata") if isinstance(rec.get("metadata"), dict) else {}
    extra = {k: v for k, v in rec.items() if k not in _KNOWN_KEYS}
    return SourceDocument(
        doc_id=str(raw_id),
        title=title,
        text=text.strip(),
        url=str(rec["url"]) if rec.get("url") else None,
        tags=parse_list(rec.get("tags")),
        acl=parse_acl(rec.get("acl")),
        metadata=jsonable({**meta, **extra}),
        updated_at=parse_datetime(rec.get("updated_at")),
        text_format="plain",
    )


def _parse_line(line: bytes) -> SourceDocument | str | None:
    """A document, a skip reason, or None for a blank line."""
    try:
        s = line.decode("utf-8-sig")
    except UnicodeDecodeError:
        return "line is not valid UTF-8"
    if not s.strip():
        return None
    try:
        rec = json.loads(s)
    except json.JSONDecodeError as e:
        return f"malformed JSON: {e.msg} (column {e.colno})"
    if not isinstance(rec, dict):
        return "record is not a JSON object"
    return record_to_document(rec)


def iter_jsonl_file(path: Path, *, max_file_bytes: int) -> Iterator[SourceDocument | SkippedFile]:
    """Yield one document per line; bad lines become ``SkippedFile(f"{path}:{lineno}", reason)``."""
    count = lines = 0
    try:
        with _open(path) as stream:
            for lineno, line in _lines(stream, max_file_bytes):
                where, lines = f"{path}:{lineno}", lineno
                if line is None:
                    yield SkippedFile(where, f"record too large (> max_file_bytes {max_file_bytes})")
                    continue
                if lineno == 1 and b"\x00" in line:
                    yield SkippedFile(str(path), "binary file (contains NUL bytes)")
                    return
                result = _parse_line(line)
                if isinstance(result, SourceDocument):
                    count += 1
                    yield result
                elif result is not None:
                    yield SkippedFile(where, result)
    except (OSError, EOFError, zlib.error) as e:
        # A truncated or corrupt gzip stream: what was read so far stays ingested.
        yield SkippedFile(str(path), f"cannot read file after {count} records: {e}")
        return
    if count == 0:
        yield SkippedFile(str(path), "empty file" if lines == 0 else "no valid records")


def iter_jsonl(root: Path, *, max_file_bytes: int) -> Iterator[SourceDocument | SkippedFile]:
    """Yield the documents of every JSONL file under ``root`` (or of ``root`` itself)."""
    for path in walk_files(root, SUFFIXES):
        yield from iter_jsonl_file(path, max_file_bytes=max_file_bytes)
