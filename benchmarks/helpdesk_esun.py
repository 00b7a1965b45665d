"""E.SUN Bank FAQ (AI CUP 2024, Traditional Chinese): one FAQ per page, the 50 labelled questions asked.

Each page becomes an FAQ: its first question is the question, the page's other questions are variants, and the
page text (all answers) is the answer. Reported: P@1 and MRR@10 over the full 617-page desk, and P@1 within
each question's 15-16 competition candidates. Nothing is tuned here (the matcher keeps the defaults chosen on
BANKING77/CLINC150): these 50 questions are the only labelled ones, so they are test only.

    .venv/bin/python benchmarks/helpdesk_esun.py
"""

from __future__ import annotations

import json

import numpy as np
from helpdesk_common import DATASETS, EmbeddingCache

from helpdesk.matcher import FaqIndex, FaqText
from kb.analysis import Analyzer

ROOT = DATASETS / "esun-aicup2024-faq"


def load_pages() -> list[FaqText]:
    """One FaqText per corpus page."""
    pages = []
    for line in (ROOT / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        qs = [q["question"] for q in d["metadata"]["qa"]] or [d["title"]]
        pages.append(FaqText(str(d["_id"]), list(dict.fromkeys([d["title"], *qs])), d["text"]))
    return pages


def load_queries() -> list[tuple[str, str, list[str]]]:
    """(question, gold pid, candidate pids) of the 50 labelled questions."""
    gold = {}
    for line in (ROOT / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0].isdigit():
            gold[parts[0]] = parts[1]
    out = []
    for line in (ROOT / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        out.append((d["text"], gold[str(d["_id"])], [str(c) for c in d["metadata"]["candidates"]]))
    return out


def main() -> None:
    """Score P@1 / MRR@10 on the full desk and within candidates."""
    pages, queries = load_pages(), load_queries()
    qcache, pcache = EmbeddingCache("esun", "query"), EmbeddingCache("esun", "passage")
    qvecs = qcache.embed([q for p in pages for q in p.questions])
    avecs = pcache.embed([p.answer for p in pages])
    tokenize = Analyzer().tokens
    index = FaqIndex(pages, tokenize, qvecs, avecs)
    uvecs = qcache.embed([q for q, _, _ in queries])
    p1 = mrr = p1_cand = 0.0
    for (q, gold, cands), v in zip(queries, uvecs, strict=True):
        ranked = [c.faq_id for c in index.match(q, v, limit=len(pages)).candidates]
        p1 += ranked[0] == gold
        mrr += 1 / (ranked.index(gold) + 1) if gold in ranked[:10] else 0.0
        p1_cand += next(r for r in ranked if r in cands) == gold
    n = len(queries)
    print(f"\n| E.SUN FAQ, {n} labelled questions | value |\n|---|---:|")
    print(f"| P@1, full desk ({len(pages)} FAQs) | **{p1 / n:.3f}** |")
    print(f"| MRR@10, full desk | {mrr / n:.3f} |")
    print(f"| P@1 within the competition candidates | {p1_cand / n:.3f} |")
    _ = np


if __name__ == "__main__":
    main()
