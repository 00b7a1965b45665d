"""BANKING77 as FAQ matching: each intent is one FAQ whose variants are its training utterances; every test
query is asked and the top-1 FAQ must be its intent. No training: the helpdesk's own matcher (e5-small kNN
over variants aggregated per FAQ, fused with BM25) is used as is.

The two matcher knobs (top-k per FAQ, vector weight) are chosen on a held-out 10% of *train* only; test is
scored once with the chosen values.

    .venv/bin/python benchmarks/helpdesk_banking77.py
"""

from __future__ import annotations

import argparse
import csv
import random
import time
from collections import defaultdict

import numpy as np
from helpdesk_common import DATASETS, EmbeddingCache, pct

from helpdesk.matcher import FaqIndex, FaqText
from kb.analysis import Analyzer

GRID_K = (1, 3, 5, 10)
GRID_W = (0.7, 0.8, 0.9, 1.0)


def load(split: str) -> list[tuple[str, str]]:
    """(text, intent) rows of a BANKING77 split."""
    with open(DATASETS / "banking77" / f"{split}.csv", newline="", encoding="utf-8") as fh:
        return [(r["text"], r["category"]) for r in csv.DictReader(fh)]


def build(rows: list[tuple[str, str]], cache: EmbeddingCache, tokenize, **kw) -> FaqIndex:  # noqa: ANN001
    """One FAQ per intent, its utterances as the question and variants."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    for text, intent in rows:
        by_intent[intent].append(text)
    faqs = [FaqText(intent, texts) for intent, texts in by_intent.items()]
    vecs = cache.embed([q for f in faqs for q in f.questions], progress=False)
    return FaqIndex(faqs, tokenize, vecs, None, **kw)


def accuracy(index: FaqIndex, rows: list[tuple[str, str]], cache: EmbeddingCache) -> float:
    """Top-1 accuracy of ``index`` on labelled rows."""
    qv = cache.embed([t for t, _ in rows], progress=False)
    hits = sum(
        index.match(t, v, limit=1).candidates[0].faq_id == y for (t, y), v in zip(rows, qv, strict=True)
    )
    return hits / len(rows)


def tune(train: list[tuple[str, str]], cache: EmbeddingCache, tokenize) -> tuple[int, float, list]:  # noqa: ANN001
    """Pick (top_k, vec_weight) on a 10% split of train."""
    rng = random.Random(13)
    rows = train[:]
    rng.shuffle(rows)
    cut = len(rows) // 10
    dev, fit = rows[:cut], rows[cut:]
    results = []
    for k in GRID_K:
        for w in GRID_W:
            acc = accuracy(build(fit, cache, tokenize, top_k=k, vec_weight=w), dev, cache)
            results.append((acc, k, w))
            print(f"  dev top_k={k:2d} vec_weight={w:.1f} acc={pct(acc)}")
    best = max(results)
    return best[1], best[2], results


def main() -> None:
    """Tune on train, score test, print a Markdown summary."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--no-tune", action="store_true", help="use the matcher defaults")
    args = ap.parse_args()
    train, test = load("train"), load("test")
    cache = EmbeddingCache("banking77")
    tokenize = Analyzer().tokens
    cache.embed([t for t, _ in train + test])
    if args.no_tune:
        k, w = 3, 0.8
    else:
        k, w, _ = tune(train, cache, tokenize)
    index = build(train, cache, tokenize, top_k=k, vec_weight=w)
    t0 = time.perf_counter()
    acc = accuracy(index, test, cache)
    ms = (time.perf_counter() - t0) * 1000 / len(test)
    vec_only = accuracy(build(train, cache, tokenize, top_k=k, vec_weight=1.0), test, cache)
    bm25_only = accuracy(build(train, cache, tokenize, top_k=1, vec_weight=0.0), test, cache)
    nn1 = accuracy(build(train, cache, tokenize, top_k=1, vec_weight=1.0), test, cache)
    print("\n| BANKING77 test (3,080 queries, 77 FAQs) | top-1 accuracy |\n|---|---:|")
    print(f"| hybrid, top_k={k}, vec_weight={w} (chosen on train split) | **{pct(acc)}** |")
    print(f"| vectors only, top-{k} mean per FAQ | {pct(vec_only)} |")
    print(f"| vectors only, 1-NN | {pct(nn1)} |")
    print(f"| BM25 only (kb analyzer), 1-NN | {pct(bm25_only)} |")
    print(f"\nmatch time per query (10,003 variants, embeddings precomputed): {ms:.2f} ms")
    _ = np  # numpy is used through the index


if __name__ == "__main__":
    main()
