"""The glossary service: entries in SQL, an in-memory matcher kept current, highlighting, lookup, hooks.

Concurrency: readers (highlight, lookup, query hooks) use one immutable :class:`_Snapshot` through a single
reference and never lock. Writers commit, append to ``glossary_changes`` and rebuild the snapshot before
returning (read-your-writes); other processes' writes are noticed by polling the change log at most every
half second and applied by a background thread, so a highlight request never waits for a rebuild.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import delete as sql_delete
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from glossary import fileio
from glossary.highlight import escape, highlight_html, highlight_markdown
from glossary.matcher import MatchEntry, Matcher, Span, Surface, make_entry
from glossary.models import GlossaryChangeRow, GlossaryTermRow
from glossary.normalize import Utf16Index, normalize_term
from glossary.schema import TermRecord, check_complete, clean_entry, guess_language, scope_key
from kb.db import Database
from kb.errors import BadRequest, Conflict, KBError, NotFound, PayloadTooLarge
from kb.settings import Settings
from kb.store import utcnow

log = logging.getLogger(__name__)

MAX_TEXT_BYTES = 1024 * 1024
MAX_BATCH = 100
FORMATS = ("text", "html", "markdown")
MAX_CARDS = 5
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class _Snapshot:
    """Everything readers need, swapped as one reference: records, the matcher and its entry order."""

    records: dict[int, TermRecord]
    matcher: Matcher
    order: tuple[int, ...]  # matcher entry index -> record id

    def record(self, entry: int) -> TermRecord:
        """The record behind a matcher entry index."""
        return self.records[self.order[entry]]

    @cached_property
    def lookup_index(self) -> tuple[list[str], list[tuple[int, str]]]:
        """Normalised surfaces of every entry (any status), sorted for prefix search, with (id, surface)."""
        pairs: list[tuple[str, int, str]] = []
        for r in self.records.values():
            for text in [r.term, *(a["text"] for a in r.aliases)]:
                pairs.append((normalize_term(text), r.id, text))
        pairs.sort()
        return [p[0] for p in pairs], [(p[1], p[2]) for p in pairs]

    @cached_property
    def meta(self) -> tuple[list[str], list[str]]:
        """Term ids and terms per matcher entry (two lists: one subscript each per match dict)."""
        return [str(rid) for rid in self.order], [self.records[rid].term for rid in self.order]

    @cached_property
    def marks(self) -> dict[int, str]:
        """Opening ``<mark>`` tag per matcher entry (term ids escaped although they are digits)."""
        return {
            i: f'<mark class="kb-term" data-term-id="{escape(str(rid))}">' for i, rid in enumerate(self.order)
        }


def _record(row: GlossaryTermRow) -> TermRecord:
    return TermRecord(
        id=row.id,
        term=row.term,
        aliases=list(row.aliases or []),
        definition=row.definition or "",
        links=list(row.links or []),
        category=row.category,
        language=row.language,
        scope=list(row.scope or []),
        owner=row.owner,
        status=row.status,
        inflect=bool(row.inflect),
        examples=list(row.examples or []),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _parse_id(term_id: str | int) -> int:
    try:
        return int(term_id)
    except (TypeError, ValueError):
        raise NotFound(f"unknown glossary term: {term_id!r}") from None


def _scope_set(scope: str | Sequence[str] | None) -> frozenset[str] | None:
    if scope is None:
        return None
    if isinstance(scope, str):
        scope = [s for s in scope.replace("|", ",").split(",")]
    libs = frozenset(s.strip() for s in scope if s and s.strip())
    return libs or None


class GlossaryService:
    """Glossary entries, their matcher, and the hooks search uses (user dictionary, expansion, cards)."""

    def __init__(self, db: Database, settings: Settings, poll_seconds: float = POLL_SECONDS) -> None:
        self.db = db
        self.settings = settings
        # The core created its tables before this module was imported; ours are created here (idempotent).
        db.create_all()
        self._poll_seconds = poll_seconds
        self._write_lock = threading.Lock()  # one rebuild at a time
        self._bg_lock = threading.Lock()
        self._bg: threading.Thread | None = None
        self._dirty = False
        self._seq = -1
        self._prepared: dict[int, tuple[Any, MatchEntry]] = {}
        self._callbacks: list[Callable[[list[str]], object]] = []
        self._words: set[str] = set()
        self._last_poll = time.monotonic()
        self._snap = _Snapshot({}, Matcher([]), ())
        self.refresh()

    # --- keeping the snapshot current ----------------------------------------------------------------
    def refresh(self) -> None:
        """Apply changes from the change log and swap in a new snapshot (blocks only other writers)."""
        with self._write_lock:
            head, records = self._changed_records()
            if records is None:
                return
            snap = self._build(records)
            self._seq = head
            self._snap = snap  # one reference assignment: readers see the old or the new snapshot
        self._notify(snap)

    def _changed_records(self) -> tuple[int, dict[int, TermRecord] | None]:
        """(log head, new record map) or (head, None) when nothing changed since the last refresh."""
        with self.db.session() as s:
            head = int(s.scalar(select(func.max(GlossaryChangeRow.seq))) or 0)
            if head == self._seq:
                return head, None
            changes = s.execute(
                select(GlossaryChangeRow.term_id, GlossaryChangeRow.op).where(
                    GlossaryChangeRow.seq > self._seq
                )
            ).all()
            if self._seq < 0 or any(op == "reload" for _, op in changes):
                rows = s.scalars(select(GlossaryTermRow)).all()
                return head, {r.id: _record(r) for r in rows}
            ids = {tid for tid, _ in changes}
            rows = s.scalars(select(GlossaryTermRow).where(GlossaryTermRow.id.in_(ids))).all()
        records = dict(self._snap.records)
        for tid in ids:
            records.pop(tid, None)
        records.update({r.id: _record(r) for r in rows})
        return head, records

    def _entry(self, r: TermRecord) -> MatchEntry:
        """The prepared matcher entry of a record, reused while the record is unchanged."""
        stamp = (r.updated_at, r.status)
        cached = self._prepared.get(r.id)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        surfaces = [Surface(r.term)] + [Surface(a["text"], a["highlight"], a["search"]) for a in r.aliases]
        entry = make_entry(str(r.id), r.term, surfaces, r.scope, r.status == "approved", r.inflect)
        self._prepared[r.id] = (stamp, entry)
        return entry

    def _build(self, records: dict[int, TermRecord]) -> _Snapshot:
        approved = [r for r in records.values() if r.status == "approved"]
        for gone in set(self._prepared) - set(records):
            del self._prepared[gone]
        matcher = Matcher([self._entry(r) for r in approved])
        return _Snapshot(records, matcher, tuple(r.id for r in approved))

    def _notify(self, snap: _Snapshot) -> None:
        words = set(self._words_of(snap))
        new = sorted(words - self._words)
        self._words = words
        if not new:
            return
        for cb in list(self._callbacks):
            try:
                cb(new)
            except Exception:  # a subscriber's failure must not break glossary writes
                log.exception("glossary subscriber failed")

    def _poll(self) -> None:
        """Notice other processes' writes (cheap: one indexed MAX at most every half second)."""
        now = time.monotonic()
        if now - self._last_poll < self._poll_seconds:
            return
        self._last_poll = now
        try:
            with self.db.session() as s:
                head = int(s.scalar(select(func.max(GlossaryChangeRow.seq))) or 0)
        except SQLAlchemyError:
            log.exception("glossary change-log poll failed")
            return
        if head != self._seq:
            self._schedule()

    def _schedule(self) -> None:
        """Rebuild in a background thread (coalescing requests that arrive meanwhile)."""
        with self._bg_lock:
            self._dirty = True
            if self._bg is not None and self._bg.is_alive():
                return
            self._bg = threading.Thread(target=self._bg_loop, name="glossary-rebuild", daemon=True)
            self._bg.start()

    def _bg_loop(self) -> None:
        while True:
            with self._bg_lock:
                if not self._dirty:
                    return
                self._dirty = False
            try:
                self.refresh()
            except Exception:  # keep serving the previous snapshot
                log.exception("glossary rebuild failed")

    def snapshot(self) -> _Snapshot:
        """The current snapshot (after noticing other processes' changes)."""
        self._poll()
        return self._snap

    # --- hooks for search ----------------------------------------------------------------------------
    @staticmethod
    def _words_of(snap: _Snapshot) -> Iterable[str]:
        for r in snap.records.values():
            if r.status != "approved":
                continue
            yield r.term
            yield from (a["text"] for a in r.aliases if a.get("search", True))

    def dictionary_words(self) -> list[str]:
        """All approved terms and searchable aliases (for the analyzer's user dictionary)."""
        return sorted(set(self._words_of(self.snapshot())))

    def subscribe(self, callback: Callable[[list[str]], object]) -> None:
        """Call ``callback(new_words)`` whenever entries change and bring new dictionary words."""
        self._callbacks.append(callback)

    def _query_hits(self, query: str) -> list[tuple[Span, TermRecord, str]]:
        if not isinstance(query, str) or not query.strip():
            return []
        snap = self.snapshot()
        return [(s, snap.record(s[2]), query[s[0] : s[1]]) for s in snap.matcher.find_in_query(query)]

    def expand_query(self, query: str) -> list[str]:
        """For each term or alias in ``query``: the main term and the other searchable aliases."""
        out: list[str] = []
        for _, r, surface in self._query_hits(query):
            found = normalize_term(surface)
            for text in [r.term, *(a["text"] for a in r.aliases if a.get("search", True))]:
                if normalize_term(text) != found and text not in out:
                    out.append(text)
        return out

    def cards_for_query(self, query: str) -> list[dict[str, Any]]:
        """Definition cards of the glossary terms found in ``query`` (for the search response)."""
        cards: dict[int, dict[str, Any]] = {}
        for _, r, surface in self._query_hits(query):
            if r.id not in cards and len(cards) < MAX_CARDS:
                cards[r.id] = {
                    "term_id": str(r.id),
                    "term": r.term,
                    "definition": r.definition,
                    "surface": surface,
                }
        return list(cards.values())

    # --- CRUD ----------------------------------------------------------------------------------------
    def create(self, data: dict[str, Any], owner: str | None = None) -> dict[str, Any]:
        """Create an entry; Conflict when the same normalised term exists in the same scope."""
        values = clean_entry(data)
        check_complete(values)
        values.setdefault("language", None)
        values["language"] = values["language"] or guess_language(values["term"])
        values["owner"] = values.get("owner") or owner
        with self._writing() as s:
            self._check_unique(s, values["term"], values["scope"], None)
            row = GlossaryTermRow(
                **values, norm_term=normalize_term(values["term"]), scope_key=scope_key(values["scope"])
            )
            s.add(row)
            s.flush()
            s.add(GlossaryChangeRow(term_id=row.id, op="upsert"))
            rid = row.id
        return self.get(rid)

    def _check_unique(self, s: Any, term: str, scope: list[str], exclude: int | None) -> None:
        q = select(GlossaryTermRow.id).where(
            GlossaryTermRow.norm_term == normalize_term(term), GlossaryTermRow.scope_key == scope_key(scope)
        )
        if exclude is not None:
            q = q.where(GlossaryTermRow.id != exclude)
        other = s.scalar(q)
        if other is not None:
            raise Conflict(f"{term!r} is already defined in this scope", details={"existing_id": str(other)})

    def _writing(self) -> Any:
        """A transaction whose success triggers a synchronous refresh; a unique race becomes Conflict."""
        svc = self

        class _Tx:
            def __enter__(self) -> Any:
                self._cm = svc.db.session()
                return self._cm.__enter__()

            def __exit__(self, et, ev, tb) -> bool:  # noqa: ANN001
                try:
                    self._cm.__exit__(et, ev, tb)
                except IntegrityError as e:
                    raise Conflict("an entry with this term already exists in this scope") from e
                if et is IntegrityError:
                    raise Conflict("an entry with this term already exists in this scope") from ev
                if et is None:
                    svc.refresh()
                return False

        return _Tx()

    def get(self, term_id: str | int) -> dict[str, Any]:
        """One entry by id (NotFound if absent)."""
        with self.db.session() as s:
            row = s.get(GlossaryTermRow, _parse_id(term_id))
            if row is None:
                raise NotFound(f"unknown glossary term: {term_id}")
            return _record(row).to_dict()

    def find_by_term(self, term: str) -> list[dict[str, Any]]:
        """Entries whose main term normalises like ``term`` (any scope)."""
        with self.db.session() as s:
            rows = s.scalars(select(GlossaryTermRow).where(GlossaryTermRow.norm_term == normalize_term(term)))
            return [_record(r).to_dict() for r in rows]

    def update(self, term_id: str | int, data: dict[str, Any], partial: bool = True) -> dict[str, Any]:
        """Change an entry (``partial``: only the fields given; else a full replacement)."""
        tid = _parse_id(term_id)
        values = clean_entry(data, partial=partial)
        with self._writing() as s:
            row = s.get(GlossaryTermRow, tid)
            if row is None:
                raise NotFound(f"unknown glossary term: {term_id}")
            merged = {**_record(row).to_dict(), **values}
            check_complete(merged)
            self._check_unique(s, merged["term"], merged["scope"], tid)
            for k, v in values.items():
                setattr(row, k, v)
            row.norm_term = normalize_term(merged["term"])
            row.scope_key = scope_key(merged["scope"])
            row.language = row.language or guess_language(row.term)
            row.updated_at = utcnow()
            s.add(GlossaryChangeRow(term_id=tid, op="upsert"))
        return self.get(tid)

    def delete(self, term_id: str | int) -> None:
        """Delete an entry (NotFound if absent)."""
        tid = _parse_id(term_id)
        with self._writing() as s:
            if s.execute(sql_delete(GlossaryTermRow).where(GlossaryTermRow.id == tid)).rowcount == 0:
                raise NotFound(f"unknown glossary term: {term_id}")
            s.add(GlossaryChangeRow(term_id=tid, op="delete"))

    def list_terms(
        self,
        q: str | None = None,
        status: str | None = None,
        category: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        """Entries sorted by term, filtered by a substring of term/alias, status and category."""
        if not 1 <= limit <= 1000 or offset < 0:
            raise BadRequest("limit must be 1..1000 and offset >= 0")
        needle = normalize_term(q) if q else None
        out = []
        for r in sorted(self.snapshot().records.values(), key=lambda r: (r.term.casefold(), r.id)):
            if status and r.status != status or category and r.category != category:
                continue
            if needle and not any(
                needle in normalize_term(t) for t in [r.term, *(a["text"] for a in r.aliases)]
            ):
                continue
            out.append(r)
        return {"total": len(out), "terms": [r.to_dict() for r in out[offset : offset + limit]]}

    # --- highlighting --------------------------------------------------------------------------------
    def highlight(
        self, text: str, fmt: str = "text", scope: str | Sequence[str] | None = None
    ) -> dict[str, Any]:
        """Matches of approved terms in ``text`` (code-point and UTF-16 offsets) and, for html/markdown, the
        rewritten text with each match wrapped in ``<mark class="kb-term" data-term-id=...>``."""
        _check_text(text)
        if fmt not in FORMATS:
            raise BadRequest(f"format must be one of {', '.join(FORMATS)}")
        snap = self.snapshot()
        libs = _scope_set(scope)

        def find(t: str) -> list[Span]:
            return snap.matcher.find(t, libs)

        if fmt == "text":
            spans: list[tuple[int, int, int]] = list(find(text))
            return {"matches": self._match_dicts(text, spans, snap)}
        render = highlight_html if fmt == "html" else highlight_markdown
        spans, rendered = render(text, find, snap.marks.__getitem__)
        return {"matches": self._match_dicts(text, spans, snap), "rendered": rendered}

    def highlight_batch(self, items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """:meth:`highlight` for up to 100 items ``{"text", "format"?, "scope"?}``."""
        if len(items) > MAX_BATCH:
            raise PayloadTooLarge(f"at most {MAX_BATCH} texts per batch")
        out = []
        for i, it in enumerate(items):
            try:
                out.append(self.highlight(it.get("text"), it.get("format") or "text", it.get("scope")))
            except KBError as e:
                e.message = f"item {i}: {e.message}"
                raise
        return out

    @staticmethod
    def _match_dicts(text: str, spans: Iterable[tuple[int, int, int]], snap: _Snapshot) -> list[dict]:
        ids, terms = snap.meta
        u16 = Utf16Index(text)
        if not u16.needed:  # no character outside the BMP: UTF-16 offsets equal code-point offsets
            return [
                {
                    "start": s, "end": e, "start_utf16": s, "end_utf16": e,
                    "term_id": ids[i], "term": terms[i], "surface": text[s:e],
                }
                for s, e, i in spans
            ]  # fmt: skip
        return [
            {
                "start": s, "end": e, "start_utf16": u16(s), "end_utf16": u16(e),
                "term_id": ids[i], "term": terms[i], "surface": text[s:e],
            }
            for s, e, i in spans
        ]  # fmt: skip

    # --- lookup --------------------------------------------------------------------------------------
    def lookup(self, q: str, limit: int = 10) -> list[dict[str, Any]]:
        """Entries by term or alias: exact, then prefix (autocomplete), then fuzzy (typos, case, width)."""
        from glossary.lookup import rank

        if not isinstance(q, str) or not q.strip():
            raise BadRequest("q must be a non-empty string")
        if not 1 <= limit <= 100:
            raise BadRequest("limit must be between 1 and 100")
        snap = self.snapshot()
        out = []
        for rid, surface, score, kind in rank(normalize_term(q[:200]), snap.lookup_index, limit):
            r = snap.records[rid]
            out.append(
                {
                    "term_id": str(rid),
                    "term": r.term,
                    "surface": surface,
                    "match": kind,
                    "score": round(score, 1),
                    "status": r.status,
                    "definition": r.definition,
                    "scope": r.scope,
                }
            )
        return out

    # --- import / export -----------------------------------------------------------------------------
    def import_data(
        self,
        content: bytes | str,
        fmt: str | None = None,
        filename: str | None = None,
        status: str = "approved",
        owner: str | None = None,
    ) -> dict[str, Any]:
        """Import a CSV/TSV/JSONL file; bad rows and duplicates are reported by line, good rows imported."""
        from glossary.importer import import_rows

        parsed = fileio.parse(content, fmt, filename)
        with self.db.session() as s:
            existing = {
                (n, k): str(i)
                for n, k, i in s.execute(
                    select(GlossaryTermRow.norm_term, GlossaryTermRow.scope_key, GlossaryTermRow.id)
                )
            }
        report, rows = import_rows(parsed, existing, status, owner)
        if rows:
            with self._writing() as s:
                for i in range(0, len(rows), 1000):
                    s.execute(insert(GlossaryTermRow), rows[i : i + 1000])
                s.add(GlossaryChangeRow(term_id=0, op="reload"))
        return report

    def export(self, fmt: str = "jsonl") -> str:
        """All entries in ``fmt`` (csv, tsv or jsonl), by id."""
        with self.db.session() as s:
            rows = s.scalars(select(GlossaryTermRow).order_by(GlossaryTermRow.id)).all()
            entries = [_record(r).to_dict() for r in rows]
        return fileio.write(entries, fmt)

    # --- suggestions ---------------------------------------------------------------------------------
    def suggest(
        self, library: str | None = None, top: int = 20, create: bool = True, min_count: int = 3
    ) -> list[dict[str, Any]]:
        """Frequent undefined candidate terms from the corpus, with examples; created as drafts if asked."""
        from glossary.importer import suggest_from_store

        if not 1 <= top <= 500:
            raise BadRequest("top must be between 1 and 500")
        norms = set(self.snapshot().lookup_index[0])
        found = suggest_from_store(self.db, library, top, min_count, lambda t: normalize_term(t) in norms)
        if create:
            self._create_drafts(found)
        return found

    def _create_drafts(self, found: list[dict[str, Any]]) -> None:
        """Store suggestions as draft entries (one transaction, one rebuild); sets each one's term_id."""
        with self._writing() as s:
            for f in found:
                norm = normalize_term(f["term"])
                taken = select(GlossaryTermRow.id).where(
                    GlossaryTermRow.norm_term == norm, GlossaryTermRow.scope_key == ""
                )
                if s.scalar(taken) is not None:
                    continue
                row = GlossaryTermRow(
                    term=f["term"],
                    norm_term=norm,
                    scope_key="",
                    aliases=[],
                    links=[],
                    scope=[],
                    definition="",
                    status="draft",
                    language=f["language"],
                    owner="suggest",
                    examples=f["examples"],
                    inflect=True,
                )
                s.add(row)
                s.flush()
                s.add(GlossaryChangeRow(term_id=row.id, op="upsert"))
                f["term_id"] = str(row.id)


def _check_text(text: Any) -> None:
    if not isinstance(text, str):
        raise BadRequest("text must be a string")
    if len(text) > MAX_TEXT_BYTES // 4 and len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        raise PayloadTooLarge(f"text is over {MAX_TEXT_BYTES} bytes (1 MiB); split it into smaller parts")
