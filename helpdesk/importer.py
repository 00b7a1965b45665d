"""Reading FAQ records from CSV or JSONL, with a per-row error report instead of aborting the whole file.

Record shape: ``{"id"?, "question", "variants"?: [..], "answer", "links"?, "tags"?, "status"?}``. In CSV,
``variants``, ``links`` and ``tags`` are ``|``-separated.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from helpdesk.models import FAQ_STATUSES
from kb.errors import BadRequest, UnsupportedInput

MAX_QUESTION = 2000
MAX_ANSWER = 100_000


@dataclass
class FaqInput:
    """A validated FAQ record."""

    question: str
    answer: str
    faq_id: str | None = None
    variants: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    status: str = "published"


@dataclass
class RowError:
    """Why one input row was not imported (``row`` is 1-based: a line or a CSV data row)."""

    row: int
    error: str
    faq_id: str | None = None


def _str_list(value: Any, name: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split("|") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    raise BadRequest(f"{name} must be a list of strings")


def validate_record(rec: Any) -> FaqInput:
    """Turn one raw record into a :class:`FaqInput`; BadRequest says what is wrong."""
    if not isinstance(rec, dict):
        raise BadRequest("record is not an object")
    question, answer = rec.get("question"), rec.get("answer")
    if not isinstance(question, str) or not question.strip():
        raise BadRequest("question is missing or empty")
    if not isinstance(answer, str) or not answer.strip():
        raise BadRequest("answer is missing or empty")
    if len(question) > MAX_QUESTION or len(answer) > MAX_ANSWER:
        raise BadRequest("question or answer is too long")
    raw_id = rec.get("id", rec.get("faq_id"))
    faq_id = None if raw_id in (None, "") else str(raw_id).strip()
    if faq_id is not None and (not faq_id or len(faq_id) > 200 or "/" in faq_id):
        raise BadRequest("id must be 1-200 characters without '/'")
    status = rec.get("status") or "published"
    if status not in FAQ_STATUSES:
        raise BadRequest(f"status must be one of {', '.join(FAQ_STATUSES)}")
    return FaqInput(
        question=question.strip(),
        answer=answer.strip(),
        faq_id=faq_id,
        variants=_str_list(rec.get("variants"), "variants"),
        links=_str_list(rec.get("links"), "links"),
        tags=_str_list(rec.get("tags"), "tags"),
        status=status,
    )


def _decode(data: bytes) -> str:
    if b"\x00" in data[:4096]:
        raise UnsupportedInput("the file is binary, not CSV or JSONL text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError as e:
            raise UnsupportedInput("the file is neither UTF-8 nor GB18030 text") from e


def parse_jsonl(text: str) -> list[tuple[int, dict | RowError]]:
    """Records of a JSONL text, each with its line number, or the error of that line."""
    out: list[tuple[int, dict | RowError]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append((n, json.loads(line)))
        except json.JSONDecodeError as e:
            out.append((n, RowError(n, f"invalid JSON: {e.msg}")))
    return out


def parse_csv(text: str) -> list[tuple[int, dict | RowError]]:
    """Records of a CSV text with a header row; a row with the wrong number of fields is an error."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return []
    except csv.Error as e:
        return [(1, RowError(1, f"invalid CSV header: {e}"))]
    out: list[tuple[int, dict | RowError]] = []
    n = 1
    while True:
        n += 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            out.append((n, RowError(n, f"invalid CSV: {e}")))
            break
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            out.append((n, RowError(n, f"expected {len(header)} fields, got {len(row)}")))
            continue
        out.append((n, dict(zip(header, row, strict=True))))
    return out


def parse_file(data: bytes, filename: str) -> list[tuple[int, dict | RowError]]:
    """Records of an uploaded/local file, by extension (``.csv``; anything else is read as JSONL)."""
    text = _decode(data)
    if filename.lower().endswith(".csv"):
        return parse_csv(text)
    return parse_jsonl(text)
