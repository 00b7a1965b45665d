"""Reading and writing glossary files: CSV, TSV and JSONL with a header that names the columns.

Reading never stops at a bad row: it yields ``(line number, row)`` for good rows and collects
``{"line", "error"}`` for bad ones. Column names are matched loosely (``label``/``synonyms`` from FIBO,
``术语``/``别名``/``定义`` from Chinese spreadsheets); columns that mean nothing to the glossary are reported.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass, field
from typing import Any

from glossary.schema import FIELDS
from kb.errors import BadRequest, UnsupportedInput

FORMATS = ("csv", "tsv", "jsonl")
# Header name (case-folded) -> field. Several columns may feed one field (aliases, links): values are joined.
COLUMNS: dict[str, str] = {
    **dict.fromkeys(["term", "label", "name", "术语", "名称", "词条"], "term"),
    **dict.fromkeys(
        ["aliases", "alias", "synonyms", "abbreviations", "abbreviation", "别名", "同义词", "缩写"], "aliases"
    ),
    **dict.fromkeys(["definition", "description", "definition_md", "定义", "释义", "解释"], "definition"),
    **dict.fromkeys(["category", "kind", "类别", "分类"], "category"),
    **dict.fromkeys(["language", "lang", "语言"], "language"),
    **dict.fromkeys(["scope", "libraries", "library", "范围"], "scope"),
    **dict.fromkeys(["owner", "负责人"], "owner"),
    **dict.fromkeys(["status", "状态"], "status"),
    **dict.fromkeys(["links", "link", "url", "iri", "related"], "links"),
    "inflect": "inflect",
    "id": "id",
}
_MULTI = ("aliases", "links")


@dataclass
class ParsedFile:
    """Good rows with their line numbers, bad rows with the reason, and columns that were ignored."""

    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)


def decode(content: bytes) -> str:
    """Bytes of a (possibly gzipped) file as text: UTF-8 (with or without BOM), else GB18030."""
    if content[:2] == b"\x1f\x8b":
        try:
            content = gzip.decompress(content)
        except (OSError, EOFError) as e:
            raise UnsupportedInput(f"corrupt gzip file: {e}") from e
    if b"\x00" in content[:4096]:
        raise UnsupportedInput("binary file (NUL bytes): expected CSV, TSV or JSONL text")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return content.decode("gb18030")
    except UnicodeDecodeError as e:
        raise UnsupportedInput("the file is neither UTF-8 nor GB18030 text") from e


def detect_format(text: str, filename: str | None = None) -> str:
    """csv, tsv or jsonl: from the file name if it says, else from the first line."""
    name = (filename or "").lower().removesuffix(".gz")
    for ext, fmt in (
        (".jsonl", "jsonl"),
        (".ndjson", "jsonl"),
        (".tsv", "tsv"),
        (".tab", "tsv"),
        (".csv", "csv"),
    ):
        if name.endswith(ext):
            return fmt
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    if first.lstrip().startswith("{"):
        return "jsonl"
    return "tsv" if "\t" in first else "csv"


def parse(content: bytes | str, fmt: str | None = None, filename: str | None = None) -> ParsedFile:
    """Parse a glossary file; raises only when the file as a whole is unusable (no header, no term column)."""
    text = decode(content) if isinstance(content, bytes) else content
    fmt = (fmt or detect_format(text, filename)).lower()
    if fmt not in FORMATS:
        raise BadRequest(f"format must be one of {', '.join(FORMATS)}")
    if not text.strip():
        raise BadRequest("the file is empty")
    return _parse_jsonl(text) if fmt == "jsonl" else _parse_delimited(text, "\t" if fmt == "tsv" else ",")


def _header(names: list[str]) -> tuple[list[str | None], list[str]]:
    fields = [COLUMNS.get(n.strip().lower().lstrip("\ufeff")) for n in names]
    if "term" not in fields:
        raise BadRequest(
            f"the header has no term column (expected one of: term, label, name); got {names[:10]}"
        )
    ignored = [n for n, f in zip(names, fields, strict=True) if f is None and n.strip()]
    return fields, ignored


def _merge(row: dict[str, Any], key: str, value: Any) -> None:
    if key in _MULTI and row.get(key):
        row[key] = f"{row[key]}|{value}" if value else row[key]
    elif key not in row or not row[key]:
        row[key] = value


def _parse_delimited(text: str, delimiter: str) -> ParsedFile:
    csv.field_size_limit(max(csv.field_size_limit(), 4 * 1024 * 1024))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    # TSV exports (FIBO) do not quote; a stray quote must not swallow the following lines.
    if delimiter == "\t":
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    out = ParsedFile()
    try:
        names = next(reader)
    except (StopIteration, csv.Error) as e:
        raise BadRequest(f"cannot read the header: {e}") from e
    fields, out.ignored_columns = _header(names)
    line = reader.line_num
    while True:
        start = line + 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            out.errors.append({"line": start, "error": f"malformed row: {e}"})
            line = reader.line_num
            continue
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(fields):
            out.errors.append({"line": start, "error": f"expected {len(fields)} fields, got {len(values)}"})
            continue
        row: dict[str, Any] = {}
        for f, v in zip(fields, values, strict=True):
            if f is not None:
                _merge(row, f, v.strip())
        out.rows.append((start, row))
    return out


def _parse_jsonl(text: str) -> ParsedFile:
    out = ParsedFile()
    ignored: set[str] = set()
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            out.errors.append({"line": n, "error": f"invalid JSON: {e.msg}"})
            continue
        if not isinstance(obj, dict):
            out.errors.append({"line": n, "error": "a line must be a JSON object"})
            continue
        row: dict[str, Any] = {}
        for k, v in obj.items():
            f = COLUMNS.get(str(k).strip().lower())
            if f is None:
                ignored.add(str(k))
            elif f in _MULTI and isinstance(v, list) and isinstance(row.get(f), list):
                row[f] = row[f] + v
            else:
                _merge(row, f, v) if isinstance(v, str) else row.setdefault(f, v)
        out.rows.append((n, row))
    out.ignored_columns = sorted(ignored)
    return out


def _links_text(links: list[dict]) -> str:
    return "|".join(link.get("url") or link.get("doc", "") for link in links)


def write(entries: list[dict[str, Any]], fmt: str) -> str:
    """Entries (as returned by the service) in ``fmt``; JSONL keeps alias flags, CSV/TSV join with '|'."""
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise BadRequest(f"format must be one of {', '.join(FORMATS)}")
    if fmt == "jsonl":
        keep = ("id", *(f for f in FIELDS if f != "inflect"))
        return "".join(json.dumps({k: e[k] for k in keep}, ensure_ascii=False) + "\n" for e in entries)
    buf = io.StringIO()
    w = csv.writer(buf, delimiter="\t" if fmt == "tsv" else ",", lineterminator="\n")
    cols = [
        "id",
        "term",
        "aliases",
        "definition",
        "category",
        "language",
        "scope",
        "owner",
        "status",
        "links",
    ]
    w.writerow(cols)
    for e in entries:
        row = {**e, "aliases": "|".join(a["text"] for a in e["aliases"]), "scope": "|".join(e["scope"])}
        row["links"] = _links_text(e["links"])
        # TSV cannot carry tabs or line breaks inside a field: fold them to spaces.
        w.writerow([_cell(row.get(c), fmt) for c in cols])
    return buf.getvalue()


def _cell(value: Any, fmt: str) -> str:
    s = "" if value is None else str(value)
    return " ".join(s.split()) if fmt == "tsv" else s
