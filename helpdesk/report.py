"""The desk report: how much the bot resolves, how much it escalates, how fast humans respond and resolve,
and which unanswered questions recur (knowledge gaps worth a new FAQ)."""

from __future__ import annotations

import statistics
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select

from helpdesk.models import AskRow, TicketRow, as_utc
from kb.store import utcnow

if TYPE_CHECKING:
    from helpdesk.service import HelpdeskService

CLUSTER_COS = 0.88  # e5 cosine above which two questions ask the same thing
CLUSTER_JACCARD = 0.5  # the same without embeddings, on analyzer tokens
MAX_GAP_QUESTIONS = 2000


def _median_seconds(pairs: list[tuple[Any, Any]]) -> float | None:
    vals = [(as_utc(b) - as_utc(a)).total_seconds() for a, b in pairs if a is not None and b is not None]
    return round(statistics.median(vals), 1) if vals else None


def _rate(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


def build_report(svc: HelpdeskService, desk_id: str, days: int | None) -> dict[str, Any]:
    """Figures of one desk over the last ``days`` days (all time when None)."""
    since = utcnow() - timedelta(days=days) if days else None
    with svc.db.session() as s:
        qa = select(AskRow).where(AskRow.desk_id == desk_id)
        qt = select(TicketRow).where(TicketRow.desk_id == desk_id)
        if since is not None:
            qa, qt = qa.where(AskRow.created_at >= since), qt.where(TicketRow.created_at >= since)
        asks = list(s.scalars(qa))
        tks = list(s.scalars(qt))
    answered = [a for a in asks if a.status == "answered"]
    unhelpful = [a for a in answered if a.feedback == "not_helpful"]
    states: dict[str, int] = {}
    for t in tks:
        states[t.state] = states.get(t.state, 0) + 1
    gaps = [a.question for a in asks if a.status == "escalated" or a.feedback == "not_helpful"]
    published = {t.question for t in tks if t.published_faq_id}
    return {
        "desk": desk_id,
        "days": days,
        "questions": len(asks),
        "answered_by_bot": len(answered),
        "not_helpful": len(unhelpful),
        "escalated": sum(1 for a in asks if a.status == "escalated"),
        # Resolved by the bot: answered and not flagged as unhelpful.
        "bot_resolution_rate": _rate(len(answered) - len(unhelpful), len(asks)),
        "escalation_rate": _rate(sum(1 for a in asks if a.status == "escalated"), len(asks)),
        "tickets": len(tks),
        "tickets_by_state": states,
        "median_first_response_seconds": _median_seconds([(t.created_at, t.first_response_at) for t in tks]),
        "median_resolution_seconds": _median_seconds([(t.created_at, t.resolved_at) for t in tks]),
        "top_unanswered": cluster_questions(svc, [q for q in gaps if q not in published]),
    }


def cluster_questions(svc: HelpdeskService, questions: list[str], top: int = 10) -> list[dict[str, Any]]:
    """Greedy leader clustering of questions (embedding cosine, or token overlap without embeddings)."""
    questions = questions[-MAX_GAP_QUESTIONS:]
    if not questions:
        return []
    vecs = svc._embed(questions, "query")  # cached: repeated questions cost nothing
    toks = [set(svc.kb.analyzer.tokens(q)) for q in questions]
    leaders: list[int] = []
    members: dict[int, list[int]] = {}
    for i in range(len(questions)):
        j = _nearest_leader(i, leaders, vecs, toks)
        if j is None:
            leaders.append(i)
            members[i] = [i]
        else:
            members[j].append(i)
    ranked = sorted(members.values(), key=lambda m: -len(m))[:top]
    return [
        {
            "size": len(m),
            "question": questions[m[0]],
            "examples": list(dict.fromkeys(questions[k] for k in m))[:5],
        }
        for m in ranked
    ]


def _nearest_leader(i: int, leaders: list[int], vecs: np.ndarray | None, toks: list[set[str]]) -> int | None:
    if not leaders:
        return None
    if vecs is not None:
        sims = vecs[leaders] @ vecs[i]
        k = int(np.argmax(sims))
        return leaders[k] if sims[k] >= CLUSTER_COS else None
    best, best_sim = None, 0.0
    for j in leaders:
        union = toks[i] | toks[j]
        sim = len(toks[i] & toks[j]) / len(union) if union else 0.0
        if sim > best_sim:
            best, best_sim = j, sim
    return best if best_sim >= CLUSTER_JACCARD else None
