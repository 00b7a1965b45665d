"""Validation of glossary entries, shared by the API, the CLI and file import.

Input is a plain mapping (JSON body, CSV row, CLI options); output is a clean dict of column values or a
:class:`kb.errors.BadRequest` that says which field is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kb.errors import BadRequest

STATUSES = ("draft", "approved")
MAX_TERM = 200
MAX_DEFINITION = 20_000
MAX_ALIASES = 50
_CJK = re.compile("[\u3400-\u9fff\uf900-\ufaff]")
_LIB_RE = re.compile(r"^[^\s|,]{1,200}$")
FIELDS = (
    "term",
    "aliases",
    "definition",
    "links",
    "category",
    "language",
    "scope",
    "owner",
    "status",
    "inflect",
)


@dataclass
class TermRecord:
    """An entry as the service holds it in memory and returns it."""

    id: int
    term: str
    aliases: list[dict]
    definition: str
    links: list[dict]
    category: str | None
    language: str | None
    scope: list[str]
    owner: str | None
    status: str
    inflect: bool = True
    examples: list[str] = field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (ids are strings so that clients never do arithmetic on them)."""
        return {
            "id": str(self.id),
            "term": self.term,
            "aliases": self.aliases,
            "definition": self.definition,
            "links": self.links,
            "category": self.category,
            "language": self.language,
            "scope": self.scope,
            "owner": self.owner,
            "status": self.status,
            "inflect": self.inflect,
            "examples": self.examples,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }


def _text(value: Any, name: str, limit: int, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise BadRequest(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string")
    value = " ".join(value.split()) if name != "definition" else value.strip()
    if len(value) > limit:
        raise BadRequest(f"{name} is longer than {limit} characters")
    return value


def _split(value: Any) -> list:
    """A list from a list, or from a '|'-separated string (the file format)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [p for p in (x.strip() for x in value.split("|")) if p]
    if isinstance(value, list | tuple):
        return list(value)
    raise BadRequest("expected a list or a '|'-separated string")


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "y", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "n", "off", ""):
        return False
    raise BadRequest(f"{name} must be true or false")


def clean_aliases(value: Any, term: str | None) -> list[dict]:
    """Aliases as ``[{"text", "highlight", "search"}]``; strings get both flags; the term is dropped."""
    out: list[dict] = []
    seen = {term.casefold()} if term else set()
    for a in _split(value):
        if isinstance(a, str):
            a = {"text": a}
        if not isinstance(a, Mapping):
            raise BadRequest("each alias must be a string or an object with 'text'")
        text = _text(a.get("text"), "alias", MAX_TERM, required=True)
        assert text is not None
        if text.casefold() in seen:
            continue
        seen.add(text.casefold())
        out.append(
            {
                "text": text,
                "highlight": _bool(a.get("highlight", True), "alias.highlight"),
                "search": _bool(a.get("search", True), "alias.search"),
            }
        )
    if len(out) > MAX_ALIASES:
        raise BadRequest(f"at most {MAX_ALIASES} aliases")
    return out


def clean_links(value: Any) -> list[dict]:
    """Links as ``[{"url"} or {"doc": "library/doc_id"}, optional "title"]``."""
    out: list[dict] = []
    for v in _split(value):
        if isinstance(v, str):
            # Anything with a scheme ("https:", "javascript:") is a URL and must pass the scheme check.
            v = {"url": v} if re.match(r"^[a-z][a-z0-9+.-]*:", v, re.I) else {"doc": v}
        if not isinstance(v, Mapping) or not (v.get("url") or v.get("doc")):
            raise BadRequest("each link needs 'url' or 'doc'")
        link = {k: str(v[k]).strip() for k in ("url", "doc", "title") if v.get(k)}
        if link.get("url") and not re.match(r"^(https?|ftp)://|^mailto:", link["url"], re.I):
            raise BadRequest(f"link url must be http(s), ftp or mailto: {link['url'][:80]}")
        out.append(link)
    return out


def clean_scope(value: Any) -> list[str]:
    """Library names (sorted, unique); empty or 'global' means global."""
    libs = sorted({str(v).strip() for v in _split(value) if str(v).strip()})
    if libs == ["global"] or libs == ["*"]:
        return []
    for lib in libs:
        if not _LIB_RE.match(lib):
            raise BadRequest(f"invalid library name in scope: {lib!r}")
    return libs


def guess_language(term: str) -> str:
    """'zh' when the term has CJK characters, else 'en'."""
    return "zh" if _CJK.search(term) else "en"


def clean_entry(data: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Validated column values from ``data``; with ``partial`` only the keys present are checked."""
    unknown = sorted(set(data) - set(FIELDS) - {"id", "examples", "created_at", "updated_at"})
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(unknown)}")
    out: dict[str, Any] = {}
    has = (lambda k: k in data) if partial else (lambda k: True)  # noqa: E731
    if has("term"):
        out["term"] = _text(data.get("term"), "term", MAX_TERM, required=True)
    if has("aliases"):
        out["aliases"] = clean_aliases(data.get("aliases"), out.get("term"))
    if has("definition"):
        out["definition"] = _text(data.get("definition"), "definition", MAX_DEFINITION) or ""
    if has("links"):
        out["links"] = clean_links(data.get("links"))
    for k in ("category", "owner"):
        if has(k):
            out[k] = _text(data.get(k), k, 200)
    if has("language"):
        out["language"] = _text(data.get("language"), "language", 20)
    if has("scope"):
        out["scope"] = clean_scope(data.get("scope"))
    if has("status"):
        out["status"] = _status(data.get("status"))
    if has("inflect"):
        out["inflect"] = (
            _bool(data.get("inflect", True), "inflect") if data.get("inflect") is not None else True
        )
    return out


def _status(value: Any) -> str:
    if value is None or value == "":
        return "approved"
    if not isinstance(value, str) or value.strip().lower() not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}")
    return value.strip().lower()


def check_complete(values: Mapping[str, Any]) -> None:
    """An approved entry needs a definition (drafts, e.g. suggestions, may lack one)."""
    if values.get("status", "approved") == "approved" and not values.get("definition"):
        raise BadRequest("an approved entry needs a definition (save it as a draft otherwise)")


def scope_key(scope: list[str]) -> str:
    """The canonical form of a scope for the uniqueness constraint ('' = global)."""
    return "|".join(sorted(scope))
