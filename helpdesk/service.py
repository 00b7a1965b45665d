"""The helpdesk service: desks and FAQs, answering (FAQ match, then the knowledge base as the asker), the
human ticket queue, learning from agents' answers, calibration and the desk report.

Every state change is one transaction. Each process keeps an in-memory FAQ index per desk and rebuilds it
when the desk's ``faq_version`` (bumped with every FAQ change) moves, so a CLI import is seen by a running
server at its next question.
"""

from __future__ import annotations

import html
import math
import re
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from helpdesk import calibration, tickets
from helpdesk.importer import FaqInput, RowError, validate_record
from helpdesk.matcher import FaqIndex, FaqText, MatchResult
from helpdesk.models import AskRow, DeskRow, FaqRow, TicketRow
from helpdesk.report import build_report
from kb.engine import KnowledgeBase
from kb.errors import BadRequest, Conflict, Forbidden, NotFound
from kb.models import Hit, Principal, content_hash
from kb.search import SearchRequest, SearchService
from kb.settings import Settings
from kb.store import utcnow

MAX_QUESTION = 2000
DESK_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
RESERVED_DESK_IDS = frozenset({"desks", "tickets"})  # path words of the HTTP API
SUGGEST_VARIANT_COS = 0.9  # above this an agent's question is most likely a rewording of an existing FAQ


@dataclass
class _DeskIndex:
    version: int
    index: FaqIndex
    faqs: dict[str, dict[str, Any]]


def _faq_dict(row: FaqRow) -> dict[str, Any]:
    return {
        "faq_id": row.faq_id,
        "desk": row.desk_id,
        "question": row.question,
        "variants": row.variants or [],
        "answer": row.answer,
        "links": row.links or [],
        "tags": row.tags or [],
        "status": row.status,
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
    }


def _desk_dict(row: DeskRow, faq_count: int | None = None) -> dict[str, Any]:
    out = {
        "id": row.id,
        "name": row.name,
        "libraries": row.libraries or [],
        "agent_group": row.agent_group,
        "threshold": row.threshold,
        "calibrated": bool(row.calibration),
    }
    if faq_count is not None:
        out["faq_count"] = faq_count
    return out


def _check_question(question: Any) -> str:
    if not isinstance(question, str) or not question.strip():
        raise BadRequest("question must be a non-empty string")
    if len(question) > MAX_QUESTION:
        raise BadRequest(f"question is longer than {MAX_QUESTION} characters")
    return question.strip()


def _check_threshold(value: float) -> float:
    if not isinstance(value, int | float) or math.isnan(value) or not 0.0 <= value <= 1.0:
        raise BadRequest("threshold must be between 0 and 1")
    return float(value)


def _plain_snippet(snippet: str) -> str:
    """A search snippet (escaped HTML with <mark>) as plain text."""
    return html.unescape(re.sub(r"</?mark>", "", snippet))


def _doc_confidence(hit: Hit) -> float:
    """P(a passage answers the question), from its query-passage cosine.

    Not calibrated per desk (dev sets label FAQs, not documents): a fixed logistic on the e5 cosine, where
    clearly relevant passages score above ~0.88. Without a vector score the passage cannot be trusted alone.
    """
    parts = (hit.explain or {}).get("parts", {})
    cos = parts.get("vector")
    if cos is None:
        return 0.05
    return float(1.0 / (1.0 + math.exp(-30.0 * (float(cos) - 0.88))))


class HelpdeskService:
    """Desks, FAQs, answering, tickets, learning, calibration and reports over one knowledge base."""

    def __init__(self, kb: KnowledgeBase, search: SearchService, settings: Settings) -> None:
        self.kb = kb
        self.search = search
        self.settings = settings
        self.db = kb.db
        self.db.create_all()  # idempotent: the helpdesk tables join the core's
        self._indexes: dict[str, _DeskIndex] = {}
        self._lock = threading.Lock()

    # --- permissions ----------------------------------------------------------------------------------
    def is_agent(self, desk_id: str, principal: Principal) -> bool:
        """Agents of a desk: members of its agent group, and admins."""
        if principal.admin or principal.superuser:
            return True
        desk = self.get_desk(desk_id)
        return bool(desk["agent_group"]) and desk["agent_group"] in principal.groups

    def require_agent(self, desk_id: str, principal: Principal) -> None:
        """Forbidden unless ``principal`` is an agent of the desk."""
        if not self.is_agent(desk_id, principal):
            raise Forbidden(f"only agents of desk {desk_id} may do this")

    # --- desks ----------------------------------------------------------------------------------------
    def _desk_row(self, s: Session, desk_id: str) -> DeskRow:
        row = s.get(DeskRow, desk_id) if isinstance(desk_id, str) else None
        if row is None:
            raise NotFound(f"unknown desk: {desk_id}")
        return row

    def get_desk(self, desk_id: str) -> dict[str, Any]:
        """One desk."""
        with self.db.session() as s:
            row = self._desk_row(s, desk_id)
            n = s.scalar(select(func.count()).select_from(FaqRow).where(FaqRow.desk_id == desk_id))
            return _desk_dict(row, n)

    def list_desks(self) -> list[dict[str, Any]]:
        """All desks with their FAQ counts."""
        with self.db.session() as s:
            counts = dict(s.execute(select(FaqRow.desk_id, func.count()).group_by(FaqRow.desk_id)).all())
            return [
                _desk_dict(r, counts.get(r.id, 0)) for r in s.scalars(select(DeskRow).order_by(DeskRow.id))
            ]

    def _new_desk(self, desk_id: str, **fields: Any) -> DeskRow:
        if not isinstance(desk_id, str) or not DESK_ID_RE.match(desk_id):
            raise BadRequest("desk id must be 1-100 letters, digits, '_', '-' or '.'")
        if desk_id in RESERVED_DESK_IDS:
            raise BadRequest(f"desk id {desk_id!r} is reserved")
        return DeskRow(
            id=desk_id,
            name=fields.get("name") or desk_id,
            libraries=list(fields.get("libraries") or []),
            agent_group=fields.get("agent_group"),
            threshold=_check_threshold(fields.get("threshold", 0.5)),
            created_at=utcnow(),
        )

    def create_desk(self, desk_id: str, **fields: Any) -> dict[str, Any]:
        """Create a desk; Conflict if it exists."""
        row = self._new_desk(desk_id, **fields)
        with self.db.session() as s:
            if s.get(DeskRow, desk_id) is not None:
                raise Conflict(f"desk {desk_id} already exists")
            s.add(row)
        return self.get_desk(desk_id)

    def ensure_desk(self, desk_id: str) -> None:
        """Create the desk with defaults if it does not exist (imports create their desk)."""
        with self.db.session() as s:
            if s.get(DeskRow, desk_id) is None:
                s.add(self._new_desk(desk_id))

    def update_desk(self, desk_id: str, **fields: Any) -> dict[str, Any]:
        """Change name, libraries, agent group and/or threshold (keys with None are left alone)."""
        with self.db.session() as s:
            row = self._desk_row(s, desk_id)
            if fields.get("name") is not None:
                row.name = str(fields["name"])
            if fields.get("libraries") is not None:
                row.libraries = [str(x) for x in fields["libraries"]]
            if "agent_group" in fields and fields["agent_group"] is not None:
                row.agent_group = fields["agent_group"] or None
            if fields.get("threshold") is not None:
                row.threshold = _check_threshold(fields["threshold"])
        return self.get_desk(desk_id)

    def delete_desk(self, desk_id: str) -> None:
        """Delete a desk with its FAQs, tickets and log."""
        with self.db.session() as s:
            row = self._desk_row(s, desk_id)
            for model in (AskRow, TicketRow, FaqRow):
                s.query(model).filter(model.desk_id == desk_id).delete()
            s.delete(row)
        self._indexes.pop(desk_id, None)

    # --- FAQs -----------------------------------------------------------------------------------------
    def _faq_row(self, s: Session, desk_id: str, faq_id: str) -> FaqRow:
        row = s.scalar(select(FaqRow).where(FaqRow.desk_id == desk_id, FaqRow.faq_id == faq_id))
        if row is None:
            raise NotFound(f"unknown FAQ {faq_id} in desk {desk_id}")
        return row

    @staticmethod
    def _bump(s: Session, desk_id: str) -> None:
        s.execute(update(DeskRow).where(DeskRow.id == desk_id).values(faq_version=DeskRow.faq_version + 1))

    def list_faqs(self, desk_id: str, status: str | None = None) -> list[dict[str, Any]]:
        """FAQs of a desk (optionally of one status), in id order."""
        with self.db.session() as s:
            self._desk_row(s, desk_id)
            q = select(FaqRow).where(FaqRow.desk_id == desk_id)
            if status:
                q = q.where(FaqRow.status == status)
            return [_faq_dict(r) for r in s.scalars(q.order_by(FaqRow.pk))]

    def get_faq(self, desk_id: str, faq_id: str) -> dict[str, Any]:
        """One FAQ."""
        with self.db.session() as s:
            return _faq_dict(self._faq_row(s, desk_id, faq_id))

    @staticmethod
    def _next_id(s: Session, desk_id: str) -> str:
        n = s.scalar(select(func.count()).select_from(FaqRow).where(FaqRow.desk_id == desk_id)) or 0
        while True:
            n += 1
            cand = f"faq-{n}"
            if s.scalar(select(FaqRow.pk).where(FaqRow.desk_id == desk_id, FaqRow.faq_id == cand)) is None:
                return cand

    def _write_faq(self, s: Session, desk_id: str, f: FaqInput, upsert: bool) -> tuple[FaqRow, bool]:
        """Insert (or, with ``upsert``, update) one FAQ; returns the row and whether it was created."""
        row = None
        if f.faq_id is not None:
            row = s.scalar(select(FaqRow).where(FaqRow.desk_id == desk_id, FaqRow.faq_id == f.faq_id))
            if row is not None and not upsert:
                raise Conflict(f"FAQ {f.faq_id} already exists in desk {desk_id}")
        created = row is None
        if row is None:
            row = FaqRow(desk_id=desk_id, faq_id=f.faq_id or self._next_id(s, desk_id), created_at=utcnow())
            s.add(row)
        row.question, row.answer, row.variants = f.question, f.answer, f.variants
        row.links, row.tags, row.status, row.updated_at = f.links, f.tags, f.status, utcnow()
        s.flush()
        return row, created

    def create_faq(self, desk_id: str, record: dict[str, Any]) -> dict[str, Any]:
        """Create one FAQ from a record; Conflict if its id is taken."""
        f = validate_record(record)
        with self.db.session() as s:
            self._desk_row(s, desk_id)
            row, _ = self._write_faq(s, desk_id, f, upsert=False)
            self._bump(s, desk_id)
            return _faq_dict(row)

    def update_faq(self, desk_id: str, faq_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change fields of an FAQ (the id stays)."""
        with self.db.session() as s:
            row = self._faq_row(s, desk_id, faq_id)
            merged = {**_faq_dict(row), **{k: v for k, v in changes.items() if v is not None}, "id": faq_id}
            f = validate_record(merged)
            self._write_faq(s, desk_id, f, upsert=True)
            self._bump(s, desk_id)
            return _faq_dict(row)

    def delete_faq(self, desk_id: str, faq_id: str) -> None:
        """Delete an FAQ."""
        with self.db.session() as s:
            s.delete(self._faq_row(s, desk_id, faq_id))
            self._bump(s, desk_id)

    def import_faqs(self, desk_id: str, rows: list[tuple[int, dict | RowError]]) -> dict[str, Any]:
        """Upsert parsed records into a desk (created if missing); bad rows are reported, good ones kept.

        All good rows are written in one transaction: an import is either fully applied or not at all.
        """
        self.ensure_desk(desk_id)
        errors: list[RowError] = []
        created = updated = 0
        with self.db.session() as s:
            seen: set[str] = set()
            for n, rec in rows:
                if isinstance(rec, RowError):
                    errors.append(rec)
                    continue
                try:
                    f = validate_record(rec)
                    if f.faq_id is not None and f.faq_id in seen:
                        raise BadRequest(f"duplicate id {f.faq_id} in this file")
                    row, was_new = self._write_faq(s, desk_id, f, upsert=True)
                except BadRequest as e:
                    raw_id = rec.get("id") if isinstance(rec, dict) else None
                    errors.append(RowError(n, e.message, str(raw_id) if raw_id not in (None, "") else None))
                    continue
                seen.add(row.faq_id)
                created += was_new
                updated += not was_new
            self._bump(s, desk_id)
        return {
            "desk": desk_id,
            "created": created,
            "updated": updated,
            "errors": [{"row": e.row, "error": e.error, "id": e.faq_id} for e in errors],
        }

    # --- the in-memory FAQ index ----------------------------------------------------------------------
    def _embed(self, texts: list[str], kind: str) -> np.ndarray | None:
        """Unit embeddings of FAQ texts, cached in the store by (model, kind, text) across restarts."""
        emb = self.kb.embedder
        if emb is None:
            return None
        if not texts:
            return np.zeros((0, emb.dim), dtype=np.float32)
        model = f"{emb.name}#helpdesk-{kind}"
        hashes = [content_hash(kind, t) for t in texts]
        cached = self.kb.store.cached_embeddings(model, hashes)
        todo = list(dict.fromkeys(t for t, h in zip(texts, hashes, strict=True) if h not in cached))
        if todo:
            fn = emb.embed_queries if kind == "query" else emb.embed_passages
            fresh = {content_hash(kind, t): v for t, v in zip(todo, fn(todo), strict=True)}
            self.kb.store.put_embeddings(model, fresh)
            cached.update(fresh)
        return np.stack([cached[h] for h in hashes]).astype(np.float32)

    def _build_index(self, desk_id: str, version: int) -> _DeskIndex:
        with self.db.session() as s:
            rows = list(
                s.scalars(
                    select(FaqRow)
                    .where(FaqRow.desk_id == desk_id, FaqRow.status == "published")
                    .order_by(FaqRow.pk)
                )
            )
            faqs = {r.faq_id: _faq_dict(r) for r in rows}
        texts = [FaqText(r.faq_id, [r.question, *(r.variants or [])], r.answer) for r in rows]
        qvecs = self._embed([q for t in texts for q in t.questions], "query")
        avecs = self._embed([t.answer for t in texts], "passage")
        index = FaqIndex(texts, self.kb.analyzer.tokens, qvecs, avecs)
        return _DeskIndex(version, index, faqs)

    def _desk_index(self, desk_id: str, version: int) -> _DeskIndex:
        """The desk's FAQ index, rebuilt when its FAQs changed (in this or another process)."""
        with self._lock:
            cur = self._indexes.get(desk_id)
            if cur is None or cur.version != version:
                cur = self._build_index(desk_id, version)
                self._indexes[desk_id] = cur
            return cur

    def match(self, desk_id: str, question: str, limit: int = 5) -> tuple[MatchResult, _DeskIndex, dict]:
        """FAQ candidates for a question, the desk index used, and the desk's settings."""
        question = _check_question(question)
        with self.db.session() as s:
            desk = self._desk_row(s, desk_id)
            info = {
                "version": desk.faq_version,
                "threshold": desk.threshold,
                "libraries": desk.libraries or [],
                "model": desk.calibration,
            }
        di = self._desk_index(desk_id, info["version"])
        qvec = self.kb.embed_query(question) if len(di.index) else None
        return di.index.match(question, qvec, limit), di, info

    def _model(self, info: dict) -> dict:
        if info.get("model"):
            return info["model"]["model"]
        return calibration.DEFAULT_MODEL if self.kb.embedder is not None else calibration.LEXICAL_MODEL

    # --- answering ------------------------------------------------------------------------------------
    def _kb_hits(self, question: str, libraries: list[str], principal: Principal) -> list[Hit]:
        """Best passages of the desk's libraries that ``principal`` may read (ACLs hold inside search)."""
        known = [lib for lib in libraries if lib in self.kb.store.library_names()]
        if not known:
            return []
        req = SearchRequest(query=question, libraries=known, top_k=3, explain=True)
        return self.search.search(req, principal).hits

    @staticmethod
    def _source(hit: Hit) -> dict[str, Any]:
        return {
            "doc_id": hit.doc_id,
            "library": hit.library,
            "title": hit.title,
            "url": hit.url,
            "snippet": hit.snippet,
        }

    def ask(self, desk_id: str, question: str, principal: Principal) -> dict[str, Any]:
        """Answer from the FAQs, else from the linked libraries as ``principal``, else open a ticket."""
        question = _check_question(question)
        res, di, info = self.match(desk_id, question, limit=4)
        p_faq = calibration.predict(self._model(info), res.features) if res.candidates else 0.0
        best = res.candidates[0] if res.candidates else None
        threshold = info["threshold"]
        hits: list[Hit] = []
        if p_faq < threshold and info["libraries"]:
            hits = self._kb_hits(question, info["libraries"], principal)
        p_doc = _doc_confidence(hits[0]) if hits else 0.0
        out: dict[str, Any] = {"status": "escalated"}
        if best is not None and (p_faq >= threshold or p_faq >= p_doc):
            out |= {"answer": di.faqs[best.faq_id]["answer"], "faq_id": best.faq_id, "confidence": p_faq}
            if hits:
                out["source"] = self._source(hits[0])
        elif hits:
            out |= {"answer": _plain_snippet(hits[0].snippet), "source": self._source(hits[0])}
            out["confidence"] = p_doc
            if best is not None:
                out["faq_id"] = best.faq_id
        else:
            out["confidence"] = 0.0
        if out["confidence"] >= threshold:
            out["status"] = "answered"
        else:
            # Name the best candidate, but do not show an answer the bot is not sure of.
            out.pop("answer", None)
        out["confidence"] = round(float(out["confidence"]), 4)
        out["alternatives"] = self._alternatives(res, di, hits, out)
        return self._log_ask(desk_id, question, principal, out, res)

    @staticmethod
    def _alternatives(res: MatchResult, di: _DeskIndex, hits: list[Hit], out: dict) -> list[dict]:
        """Up to three runner-up candidates (FAQs first, then documents)."""
        alts: list[dict[str, Any]] = []
        for c in res.candidates:
            if c.faq_id != out.get("faq_id"):
                alts.append({"faq_id": c.faq_id, "question": di.faqs[c.faq_id]["question"]})
        src = out.get("source") or {}
        for h in hits:
            if (h.library, h.doc_id) != (src.get("library"), src.get("doc_id")):
                alts.append({"doc_id": h.doc_id, "library": h.library, "title": h.title, "url": h.url})
        return alts[:3]

    def _log_ask(
        self, desk_id: str, question: str, principal: Principal, out: dict, res: MatchResult
    ) -> dict[str, Any]:
        """Record the ask (and open its ticket when escalated) in one transaction."""
        with self.db.session() as s:
            ask = AskRow(
                desk_id=desk_id,
                asker=principal.user,
                question=question,
                status=out["status"],
                confidence=out["confidence"],
                response=out,
                created_at=utcnow(),
            )
            s.add(ask)
            if out["status"] == "escalated":
                t = self._new_ticket(s, desk_id, question, principal, "low_confidence", out, res)
                ask.ticket_id = t.id
                out["ticket_id"] = t.id
                ask.response = dict(out)
        return out

    @staticmethod
    def _new_ticket(
        s: Session,
        desk_id: str,
        question: str,
        principal: Principal,
        reason: str,
        bot: dict | None,
        res: MatchResult | None = None,
    ) -> TicketRow:
        cands = [{"faq_id": c.faq_id, "score": round(c.score, 4)} for c in (res.candidates if res else [])]
        now = utcnow()
        t = TicketRow(
            desk_id=desk_id,
            question=question,
            asker=principal.user,
            reason=reason,
            state="open",
            confidence=float((bot or {}).get("confidence", 0.0)),
            candidates=cands,
            bot_answer=bot,
            created_at=now,
            updated_at=now,
        )
        s.add(t)
        s.flush()
        tickets.add_message(s, t.id, principal.user, "asker", question)
        if bot and bot.get("answer"):
            tickets.add_message(s, t.id, "bot", "bot", bot["answer"])
        return t

    def _last_ask(self, s: Session, desk_id: str, question: str, user: str) -> AskRow | None:
        return s.scalar(
            select(AskRow)
            .where(AskRow.desk_id == desk_id, AskRow.asker == user, AskRow.question == question)
            .order_by(AskRow.id.desc())
        )

    def feedback(self, desk_id: str, question: str, helpful: bool, principal: Principal) -> dict[str, Any]:
        """Record helpful / not helpful on the asker's latest answer to ``question``.

        Not helpful opens a ticket with the bot's answer attached (once per answer).
        """
        question = _check_question(question)
        with self.db.session() as s:
            self._desk_row(s, desk_id)
            ask = self._last_ask(s, desk_id, question, principal.user)
            if ask is None:
                raise NotFound("no answer to this question to give feedback on")
            ask.feedback = "helpful" if helpful else "not_helpful"
            if helpful or ask.ticket_id is not None:
                return {"feedback": ask.feedback, "ticket_id": ask.ticket_id}
            t = self._new_ticket(s, desk_id, question, principal, "not_helpful", dict(ask.response))
            ask.ticket_id = t.id
            return {"feedback": ask.feedback, "ticket_id": t.id, "ticket": tickets.ticket_dict(t)}

    def ask_human(self, desk_id: str, question: str, principal: Principal) -> dict[str, Any]:
        """Open a ticket directly ("ask a human"), reusing one the last ask already opened."""
        question = _check_question(question)
        with self.db.session() as s:
            self._desk_row(s, desk_id)
            ask = self._last_ask(s, desk_id, question, principal.user)
            if ask is not None and ask.ticket_id is not None:
                row = s.get(TicketRow, ask.ticket_id)
                if row is not None and row.state not in ("resolved", "closed"):
                    return tickets.ticket_dict(row, tickets.messages_of(s, row.id))
            bot = dict(ask.response) if ask is not None else None
            t = self._new_ticket(s, desk_id, question, principal, "asked_human", bot)
            if ask is not None:
                ask.ticket_id = t.id
            return tickets.ticket_dict(t, tickets.messages_of(s, t.id))

    # --- tickets --------------------------------------------------------------------------------------
    def list_tickets(
        self,
        desk_id: str | None = None,
        state: str | None = None,
        assignee: str | None = None,
        asker: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Tickets, newest first, filtered by desk, state, assignee and/or asker."""
        q = select(TicketRow)
        for col, val in (
            (TicketRow.desk_id, desk_id),
            (TicketRow.state, state),
            (TicketRow.assignee, assignee),
            (TicketRow.asker, asker),
        ):
            if val is not None:
                q = q.where(col == val)
        with self.db.session() as s:
            rows = s.scalars(q.order_by(TicketRow.id.desc()).limit(max(1, min(limit, 500))))
            return [tickets.ticket_dict(r) for r in rows]

    def _ticket_for(self, s: Session, ticket_id: int, principal: Principal) -> tuple[TicketRow, bool]:
        """The ticket and whether ``principal`` is an agent of its desk; NotFound for strangers."""
        row = s.get(TicketRow, ticket_id)
        if row is None:
            raise NotFound(f"unknown ticket: {ticket_id}")
        agent = self.is_agent(row.desk_id, principal)
        if not agent and row.asker != principal.user:
            raise NotFound(f"unknown ticket: {ticket_id}")
        return row, agent

    def get_ticket(self, ticket_id: int, principal: Principal) -> dict[str, Any]:
        """A ticket with its messages (its asker and the desk's agents only)."""
        with self.db.session() as s:
            row, _ = self._ticket_for(s, ticket_id, principal)
            return tickets.ticket_dict(row, tickets.messages_of(s, ticket_id))

    def act(self, ticket_id: int, action: str, principal: Principal, message: str | None = None) -> dict:
        """Apply a life-cycle action: claim/reply are for agents; resolve/close/reopen also for the asker."""
        if action not in tickets.TRANSITIONS:
            raise BadRequest(f"unknown action: {action}")
        if action == "reply" and (not isinstance(message, str) or not message.strip()):
            raise BadRequest("a reply needs a non-empty message")
        with self.db.session() as s:
            _, agent = self._ticket_for(s, ticket_id, principal)
            if action in ("claim", "reply") and not agent:
                raise Forbidden(f"only agents may {action} a ticket")
            row = tickets.apply(s, ticket_id, action, principal.user)
            if message and message.strip():
                tickets.add_message(
                    s, ticket_id, principal.user, "agent" if agent else "asker", message.strip()
                )
            return tickets.ticket_dict(row, tickets.messages_of(s, ticket_id))

    def comment(self, ticket_id: int, principal: Principal, message: str) -> dict[str, Any]:
        """Add a message without changing the state (e.g. the asker adds detail); not on closed tickets."""
        if not isinstance(message, str) or not message.strip():
            raise BadRequest("message must be a non-empty string")
        with self.db.session() as s:
            row, agent = self._ticket_for(s, ticket_id, principal)
            if row.state == "closed":
                raise Conflict(
                    "cannot comment on a closed ticket (reopen it first)", details={"state": "closed"}
                )
            role = "agent" if agent else "asker"
            tickets.add_message(s, ticket_id, principal.user, role, message.strip())
            row.updated_at = utcnow()
            s.flush()
            return tickets.ticket_dict(row, tickets.messages_of(s, ticket_id))

    # --- learning -------------------------------------------------------------------------------------
    def suggest_publication(self, ticket_id: int, principal: Principal) -> dict[str, Any]:
        """Near-duplicate check: should the ticket's question become a variant of an existing FAQ, or new?"""
        ticket = self.get_ticket(ticket_id, principal)
        self.require_agent(ticket["desk"], principal)
        res, di, _ = self.match(ticket["desk"], ticket["question"], limit=1)
        if res.candidates:
            c = res.candidates[0]
            sim = res.features["cos"] if self.kb.embedder is not None else res.features["coverage"]
            if sim >= SUGGEST_VARIANT_COS:
                return {
                    "suggest": "variant",
                    "faq_id": c.faq_id,
                    "question": di.faqs[c.faq_id]["question"],
                    "similarity": round(sim, 4),
                }
            return {"suggest": "new", "nearest_faq_id": c.faq_id, "similarity": round(sim, 4)}
        return {"suggest": "new", "nearest_faq_id": None, "similarity": 0.0}

    @staticmethod
    def _agent_answer(s: Session, ticket_id: int) -> str | None:
        msgs = [m for m in tickets.messages_of(s, ticket_id) if m.role == "agent"]
        return msgs[-1].body if msgs else None

    def publish(self, ticket_id: int, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
        """Publish an agent's answer as a new FAQ (``mode=new``) or the question as a variant of one.

        Both changes and the ticket's ``published_faq_id`` are written in one transaction.
        """
        mode = body.get("mode") or "new"
        if mode not in ("new", "variant"):
            raise BadRequest("mode must be 'new' or 'variant'")
        with self.db.session() as s:
            row, agent = self._ticket_for(s, ticket_id, principal)
            if not agent:
                raise Forbidden("only agents may publish answers")
            if row.state not in ("answered", "resolved"):
                raise Conflict(f"only an answered or resolved ticket can be published (it is {row.state})")
            question = (body.get("question") or row.question).strip()
            if mode == "variant":
                faq = self._add_variant(s, row.desk_id, body.get("faq_id"), question)
            else:
                faq = self._publish_new(s, row.desk_id, body, question, self._agent_answer(s, ticket_id))
            row.published_faq_id = faq.faq_id
            row.updated_at = utcnow()
            self._bump(s, row.desk_id)
            return {"mode": mode, "faq": _faq_dict(faq), "ticket_id": ticket_id}

    def _add_variant(self, s: Session, desk_id: str, faq_id: Any, question: str) -> FaqRow:
        if not isinstance(faq_id, str) or not faq_id:
            raise BadRequest("mode=variant needs the faq_id to add the question to")
        faq = self._faq_row(s, desk_id, faq_id)
        if question != faq.question and question not in (faq.variants or []):
            faq.variants = [*(faq.variants or []), question]
            faq.updated_at = utcnow()
        return faq

    def _publish_new(
        self, s: Session, desk_id: str, body: dict[str, Any], question: str, agent_answer: str | None
    ) -> FaqRow:
        answer = body.get("answer") or agent_answer
        if not answer:
            raise BadRequest("no answer to publish: give one or reply on the ticket first")
        rec = {"id": body.get("faq_id"), "question": question, "answer": answer, "tags": body.get("tags")}
        row, _ = self._write_faq(s, desk_id, validate_record(rec), upsert=False)
        return row

    # --- calibration ----------------------------------------------------------------------------------
    def calibrate(
        self, desk_id: str, records: list[dict[str, Any]], target_precision: float = 0.9
    ) -> dict[str, Any]:
        """Fit the desk's confidence model on labelled questions and set the threshold for the target.

        ``records``: ``{"question", "faq_id"}`` with ``faq_id`` null when the desk must escalate. Returns the
        precision/coverage curve (out-of-fold), the chosen threshold and whether the target was reached.
        """
        target = _check_threshold(target_precision)
        feats, labels = self._labelled_features(desk_id, records)
        if len(set(labels)) < 2:
            raise BadRequest("calibration needs both correctly and wrongly answered questions in the dev set")
        probs = calibration.cross_val_predict(feats, labels)
        points = calibration.curve(probs, labels)
        threshold, reached = calibration.choose_threshold(points, target)
        model = calibration.fit(feats, labels)
        with self.db.session() as s:
            desk = self._desk_row(s, desk_id)
            desk.calibration = {"model": model, "n": len(labels), "fitted_at": utcnow().isoformat()}
            desk.threshold = threshold
        return {
            "desk": desk_id,
            "n": len(labels),
            "top1_correct": sum(labels),
            "threshold": threshold,
            "target_precision": target,
            "reached": reached,
            "curve": [p.__dict__ for p in points],
        }

    def _labelled_features(
        self, desk_id: str, records: list[dict[str, Any]]
    ) -> tuple[list[dict[str, float]], list[int]]:
        """Matcher features of each dev question and whether answering with the top FAQ would be right."""
        feats: list[dict[str, float]] = []
        labels: list[int] = []
        for i, rec in enumerate(records, start=1):
            if not isinstance(rec, dict) or not isinstance(rec.get("question"), str):
                raise BadRequest(f"dev record {i}: needs a 'question' string and a 'faq_id' (or null)")
            gold = rec.get("faq_id")
            res, _, _ = self.match(desk_id, rec["question"], limit=2)
            top = res.candidates[0].faq_id if res.candidates else None
            feats.append(res.features)
            labels.append(int(gold is not None and top == str(gold)))
        return feats, labels

    # --- report ---------------------------------------------------------------------------------------
    def report(self, desk_id: str, days: int | None = None) -> dict[str, Any]:
        """Bot resolution and escalation rates, median response/resolution times and knowledge gaps."""
        self.get_desk(desk_id)
        return build_report(self, desk_id, days)
