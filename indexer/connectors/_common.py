"""Helpers shared by the connectors: guarded file reading, list/ACL/date field parsing, folder walking."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from indexer.encoding import decode_bytes, html_declared_charset
from kb.errors import UnsupportedInput
from kb.models import SkippedFile, normalize_acl

_LIST_SPLIT = re.compile(r"[,，;；]")


def walk_files(root: Path, suffixes: Iterable[str]) -> Iterator[Path]:
    """Files under ``root`` (or ``root`` itself) whose lower-cased name ends with one of ``suffixes``.

    Sorted so ingestion order (and therefore logs and reports) is reproducible; hidden files and folders
    (``.git``, editor swap files) are left out.
    """
    ends = tuple(s.lower() for s in suffixes)
    if root.is_file():
        yield root
        return
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if p.is_file() and p.name.lower().endswith(ends):
            yield p


def relative_id(path: Path, root: Path) -> str:
    """The posix path of ``path`` relative to ``root`` (the file name when ``root`` is the file)."""
    if root.is_file():
        return path.name
    return path.relative_to(root).as_posix()


def read_text(path: Path, max_bytes: int, *, html: bool = False) -> str | SkippedFile:
    """The decoded text of a file, or a :class:`SkippedFile` saying why it cannot be used."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return SkippedFile(str(path), f"file too large ({size} bytes > max_file_bytes {max_bytes})")
        data = path.read_bytes()
    except OSError as e:
        return SkippedFile(str(path), f"cannot read file: {e.strerror or e}")
    if not data.strip():
        return SkippedFile(str(path), "empty file")
    try:
        text, _enc = decode_bytes(data, html_declared_charset(data) if html else None)
    except UnsupportedInput as e:
        return SkippedFile(str(path), e.message)
    return text


def parse_list(value: Any) -> list[str]:
    """A list field given as a list, or a string separated by ``|``, commas or semicolons (ASCII or CJK)."""
    if value is None:
        return []
    if isinstance(value, str):
        parts = value.split("|") if "|" in value else _LIST_SPLIT.split(value)
    elif isinstance(value, (list, tuple, set)):
        parts = [str(v) for v in value if v is not None]
    else:
        parts = [str(value)]
    out: list[str] = []
    for p in parts:
        p = p.strip()
        if p and p not in out:
            out.append(p)
    return out


def parse_acl(value: Any) -> list[str]:
    """Canonical ACL entries (``group:x``, ``user:y``, ``public``); empty when the source gives none.

    Empty (rather than ``["public"]``) lets the pipeline apply a library's default ACL.
    """
    entries = parse_list(value)
    return normalize_acl(entries) if entries else []


def parse_datetime(value: Any) -> datetime | None:
    """A timezone-aware datetime from a date/datetime, ISO string or epoch seconds; None if unparseable."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return _from_epoch(float(value))
    else:
        dt = _from_string(str(value).strip())
        if dt is None:
            return None
    # Naive values from front matter or CSV are taken as UTC so comparisons never mix naive and aware.
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _from_epoch(seconds: float) -> datetime | None:
    """Epoch seconds (or milliseconds, as JS exports write them) to an aware datetime."""
    if seconds > 1e11:
        seconds /= 1000.0
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _from_string(s: str) -> datetime | None:
    """ISO 8601 (with ``Z``), ``YYYY/MM/DD`` or a numeric epoch string."""
    if re.fullmatch(r"\d{9,13}(\.\d+)?", s):
        return _from_epoch(float(s))
    s = s.replace("/", "-")
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(s)
    except ValueError:
        return None


def file_mtime(path: Path) -> datetime | None:
    """The file's modification time as an aware UTC datetime."""
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    except OSError:
        return None


def jsonable(value: Any) -> Any:
    """``value`` with dates turned into ISO strings, so metadata can be stored as JSON."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
