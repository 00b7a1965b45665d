"""Plain data objects passed between the packages."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def content_hash(*parts: str) -> str:
    """A stable hex digest of text parts (used to detect unchanged documents and chunks)."""
    h = hashlib.sha1()
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.hexdigest()


@dataclass
class SourceDocument:
    """A document as a connector yields it, before chunking."""

    doc_id: str
    title: str
    text: str
    url: str | None = None
    tags: list[str] = field(default_factory=list)
    acl: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None
    # Markdown-ish structure hint for the chunker: "markdown" keeps '#' headings, "plain" has none.
    text_format: str = "plain"

    def fingerprint(self) -> str:
        """Hash of everything that affects the index (text, title, url, tags, acl)."""
        return content_hash(
            self.title, self.text, self.url or "", "|".join(self.tags), "|".join(sorted(self.acl))
        )


@dataclass
class SkippedFile:
    """A source file or record that could not be read, with the reason."""

    path: str
    reason: str


@dataclass
class Chunk:
    """A piece of a document that is indexed and embedded on its own."""

    chunk_id: str
    ordinal: int
    text: str
    heading_path: list[str] = field(default_factory=list)

    def embed_text(self, title: str) -> str:
        """The text that is embedded: title and heading path as a prefix (as Onyx does)."""
        prefix = " > ".join([p for p in [title, *self.heading_path] if p])
        return f"{prefix}\n{self.text}" if prefix else self.text


@dataclass(frozen=True)
class Principal:
    """Who a request runs as: a user id and the groups they belong to."""

    user: str
    groups: tuple[str, ...] = ()
    admin: bool = False
    # Bypasses ACLs: only the local operator (CLI without --as) and KB_AUTH=off demos run as this.
    superuser: bool = False

    def principals(self) -> list[str] | None:
        """The ACL strings this principal matches (always includes ``public``); None = sees everything."""
        if self.superuser:
            return None
        out = ["public", f"user:{self.user}"]
        out += [f"group:{g}" for g in self.groups]
        return out


def normalize_acl(entries: list[str] | str | None) -> list[str]:
    """Canonical ACL strings: a bare name is a group; empty means ``public``."""
    if entries is None:
        return ["public"]
    if isinstance(entries, str):
        entries = [e for e in entries.replace(";", ",").split(",")]
    out: list[str] = []
    for raw in entries:
        e = str(raw).strip()
        if not e:
            continue
        if e.lower() == "public":
            e = "public"
        elif not (e.startswith("user:") or e.startswith("group:")):
            e = f"group:{e}"
        if e not in out:
            out.append(e)
    return sorted(out) or ["public"]


@dataclass
class Hit:
    """One search result: a document, represented by its best chunk."""

    doc_id: str
    library: str
    title: str
    url: str | None
    score: float
    snippet: str
    tags: list[str] = field(default_factory=list)
    updated_at: datetime | None = None
    chunk_id: str | None = None
    explain: dict[str, Any] | None = None
