"""CSV/TSV exports (e.g. an FAQ table from a legacy system): one document per row, header row required."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from indexer.connectors._common import jsonable, parse_acl, parse_datetime, parse_list, read_text, walk_files
from kb.models import SkippedFile, SourceDocument

SUFFIXES = (".csv", ".tsv")
ID_COLS = ("id", "_id", "doc_id")
TITLE_COLS = ("title", "question", "name")
TEXT_COLS = ("text", "body", "content", "answer")
_OPTIONAL = {"url": ("url", "link"), "tags": ("tags",), "acl": ("acl",), "updated": ("updated_at", "updated")}


@dataclass
class Columns:
    """Indexes of the columns that feed a document's fields (None when absent)."""

    id: int
    text: int
    title: int | None
    url: int | None
    tags: int | None
    acl: int | None
    updated: int | None


def _find(header: list[str], explicit: str | None, defaults: tuple[str, ...]) -> int | None:
    """Index of the explicit column, else of the first default present (names compared case-insensitively)."""
    names = [h.strip().lower() for h in header]
    for want in [explicit] if explicit else defaults:
        if want.strip().lower() in names:
            return names.index(want.strip().lower())
    return None


def resolve_columns(
    header: list[str], id_col: str | None, title_col: str | None, text_col: str | None
) -> Columns | str:
    """The column mapping for ``header``, or the reason it cannot be built."""
    idx = {
        "id": _find(header, id_col, ID_COLS),
        "text": _find(header, text_col, TEXT_COLS),
        "title": _find(header, title_col, TITLE_COLS),
    }
    for field, explicit, defaults in (("id", id_col, ID_COLS), ("text", text_col, TEXT_COLS)):
        if idx[field] is None:
            wanted = repr(explicit) if explicit else "one of " + "/".join(defaults)
            return f"no {field} column ({wanted}) in header {header}"
    if title_col and idx["title"] is None:
        return f"no title column {title_col!r} in header {header}"
    opt = {k: _find(header, None, names) for k, names in _OPTIONAL.items()}
    return Columns(id=idx["id"], text=idx["text"], title=idx["title"], **opt)  # type: ignore[arg-type]


def row_to_document(row: list[str], header: list[str], cols: Columns) -> SourceDocument | str:
    """A document from one row, or the reason it cannot be one."""
    if len(row) != len(header):
        return f"expected {len(header)} fields, got {len(row)}"

    def get(i: int | None) -> str:
        return row[i].strip() if i is not None else ""

    doc_id, text, title = get(cols.id), get(cols.text), get(cols.title)
    if not doc_id:
        return "missing id"
    if not text and not title:
        return "missing text"
    used = {cols.id, cols.text, cols.title, cols.url, cols.tags, cols.acl, cols.updated}
    extra = {header[i].strip(): v for i, v in enumerate(row) if i not in used and v.strip()}
    return SourceDocument(
        doc_id=doc_id,
        title=title,
        text=text,
        url=get(cols.url) or None,
        tags=parse_list(get(cols.tags)),
        acl=parse_acl(get(cols.acl)),
        metadata=jsonable(extra),
        updated_at=parse_datetime(get(cols.updated)),
        text_format="plain",
    )


def _rows(text: str, delimiter: str, field_limit: int) -> Iterator[tuple[int, list[str] | str]]:
    """``(line_number, row_or_error)`` for each row; a csv.Error is reported and reading continues."""
    csv.field_size_limit(max(field_limit, 131072))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield reader.line_num, f"malformed CSV: {e}"
            continue
        yield reader.line_num, row


def iter_csv_file(
    path: Path, *, max_file_bytes: int, id_col: str | None, title_col: str | None, text_col: str | None
) -> Iterator[SourceDocument | SkippedFile]:
    """Yield one document per row; bad rows become ``SkippedFile(f"{path}:{line}", reason)``."""
    text = read_text(path, max_file_bytes)
    if isinstance(text, SkippedFile):
        yield text
        return
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    rows = _rows(text, delimiter, max_file_bytes)
    header: list[str] | None = None
    cols: Columns | None = None
    for line, row in rows:
        if isinstance(row, str):
            yield SkippedFile(f"{path}:{line}", row)
            continue
        if not any(c.strip() for c in row):
            continue  # blank lines are not records
        if header is None:
            header, resolved = row, resolve_columns(row, id_col, title_col, text_col)
            if isinstance(resolved, str):
                yield SkippedFile(str(path), resolved)
                return
            cols = resolved
            continue
        assert cols is not None
        doc = row_to_document(row, header, cols)
        yield doc if isinstance(doc, SourceDocument) else SkippedFile(f"{path}:{line}", doc)


def iter_csv(
    root: Path,
    *,
    max_file_bytes: int,
    id_col: str | None = None,
    title_col: str | None = None,
    text_col: str | None = None,
) -> Iterator[SourceDocument | SkippedFile]:
    """Yield the documents of every CSV/TSV file under ``root`` (or of ``root`` itself)."""
    for path in walk_files(root, SUFFIXES):
        yield from iter_csv_file(
            path, max_file_bytes=max_file_bytes, id_col=id_col, title_col=title_col, text_col=text_col
        )
