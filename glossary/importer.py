"""Batch work behind the service: validating imported rows and collecting term suggestions from the store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import select

from glossary.fileio import ParsedFile
from glossary.normalize import normalize_term
from glossary.schema import check_complete, clean_entry, guess_language, scope_key
from glossary.suggest import Suggester, add_examples
from kb.db import Database
from kb.errors import KBError, NotFound
from kb.store import DocumentRow, LibraryRow, utcnow

MAX_SUGGEST_CHARS = 3_000_000


def import_rows(
    parsed: ParsedFile, existing: dict[tuple[str, str], str], status: str, owner: str | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(report, rows to insert): each row validated; duplicates (same normalised term and scope) reported."""
    errors = list(parsed.errors)
    duplicates: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    seen = dict(existing)
    now = utcnow()
    for line, raw in parsed.rows:
        data = {k: v for k, v in raw.items() if k != "id"}
        if not data.get("status"):
            data["status"] = status
        try:
            values = clean_entry(data)
            check_complete(values)
        except KBError as e:
            errors.append({"line": line, "term": str(raw.get("term") or "")[:200], "error": e.message})
            continue
        key = (normalize_term(values["term"]), scope_key(values["scope"]))
        if key in seen:
            duplicates.append({"line": line, "term": values["term"], "duplicate_of": seen[key]})
            continue
        seen[key] = f"line {line}"
        values["language"] = values.get("language") or guess_language(values["term"])
        values["owner"] = values.get("owner") or owner
        rows.append(
            {
                **values,
                "norm_term": key[0],
                "scope_key": key[1],
                "examples": [],
                "created_at": now,
                "updated_at": now,
            }
        )
    errors.sort(key=lambda e: e["line"])
    report = {
        "imported": len(rows),
        "duplicates": duplicates,
        "errors": errors,
        "ignored_columns": parsed.ignored_columns,
    }
    return report, rows


def _texts(db: Database, library: str | None, max_chars: int) -> Iterator[tuple[int, str]]:
    """(document pk, text) of the library's documents (all libraries when None), up to ``max_chars``."""
    with db.session() as s:
        q = select(DocumentRow.id, DocumentRow.title, DocumentRow.text).order_by(DocumentRow.id)
        if library is not None:
            lid = s.scalar(select(LibraryRow.id).where(LibraryRow.name == library))
            if lid is None:
                raise NotFound(f"unknown library: {library!r}")
            q = q.where(DocumentRow.library_id == lid)
        total = 0
        for pk, title, text in s.execute(q):
            body = f"{title}\n{text or ''}"
            yield pk, body[: max(0, max_chars - total)]
            total += len(body)
            if total >= max_chars:
                return


def suggest_from_store(
    db: Database, library: str | None, top: int, min_count: int, known: Callable[[str], bool]
) -> list[dict[str, Any]]:
    """Ranked suggestions (dicts) from the documents in the store, with example sentences."""
    sug = Suggester(min_count=min_count)
    for pk, text in _texts(db, library, MAX_SUGGEST_CHARS):
        sug.add_document(pk, text)
    best = sug.ranked(known, top)
    add_examples(best, (t for _, t in _texts(db, library, MAX_SUGGEST_CHARS)))
    return [c.to_dict() for c in best]
