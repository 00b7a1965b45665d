"""BQ (WeBank customer questions, Simplified Chinese) framed as FAQ matching.

Framing: take the first N pairs of a split. Every ``sentence2`` becomes an FAQ question (the
positives' and the negatives', so hard distractors are in the desk). Each ``sentence1`` of a positive
pair is asked; top-1 is right when it is its paired ``sentence2``. Also reported: pair classification
(same intent or not) at a threshold on the matcher's fused score chosen on the validation split, and the
cosine Spearman that C-MTEB reports. Only the first N pairs are used because embedding all 40,000
sentences with the CPU model takes long; N is printed.

    .venv/bin/python benchmarks/helpdesk_bq.py [--pairs 2000]
"""

from __future__ import annotations

import argparse

import numpy as np
from helpdesk_common import DATASETS, EmbeddingCache, pct

from helpdesk.matcher import FaqIndex, FaqText
from kb.analysis import Analyzer


def load(split: str, n: int) -> list[tuple[str, str, int]]:
    """First ``n`` (s1, s2, label) pairs of a BQ split."""
    rows = []
    for line in (
        (DATASETS / "zh-question-matching" / f"BQ.{split}.tsv").read_text(encoding="utf-8").splitlines()
    ):
        parts = line.split("\t")
        if len(parts) == 3 and parts[2].strip() in ("0", "1"):
            rows.append((parts[0], parts[1], int(parts[2])))
    return rows[:n]


def retrieval(rows: list, cache: EmbeddingCache, tokenize) -> float:  # noqa: ANN001
    """Top-1 accuracy of asking each positive s1 against a desk of all s2."""
    texts = list(dict.fromkeys(s2 for _, s2, _ in rows))
    index = FaqIndex([FaqText(t, [t]) for t in texts], tokenize, cache.embed(texts, False), None)
    pos = [(s1, s2) for s1, s2, y in rows if y == 1]
    vecs = cache.embed([s1 for s1, _ in pos], False)
    return sum(
        index.match(s1, v, limit=1).candidates[0].faq_id == s2 for (s1, s2), v in zip(pos, vecs, strict=True)
    ) / len(pos)


def pair_scores(rows: list, cache: EmbeddingCache, tokenize) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # noqa: ANN001
    """Fused matcher score and cosine of each pair (s2 as a one-FAQ desk), and the labels."""
    v1 = cache.embed([r[0] for r in rows], False)
    v2 = cache.embed([r[1] for r in rows], False)
    fused, cos = [], []
    for (s1, s2, _), a, b in zip(rows, v1, v2, strict=True):
        index = FaqIndex([FaqText("x", [s2])], tokenize, b[None, :], None)
        c = index.match(s1, a, limit=1).candidates[0]
        fused.append(c.score)
        cos.append(float(a @ b))
    return np.array(fused), np.array(cos), np.array([r[2] for r in rows])


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1])


def main() -> None:
    """Print retrieval accuracy, pair accuracy at a validation-chosen threshold, and Spearman."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pairs", type=int, default=2000)
    args = ap.parse_args()
    cache, tokenize = EmbeddingCache("bq"), Analyzer().tokens
    val, test = load("valid", args.pairs), load("test", args.pairs)
    cache.embed([t for r in val + test for t in r[:2]])
    vf, _, vy = pair_scores(val, cache, tokenize)
    cands = np.unique(vf)
    thr = float(max(cands, key=lambda t: ((vf >= t) == (vy == 1)).mean()))
    tf, tc, ty = pair_scores(test, cache, tokenize)
    top1 = retrieval(test, cache, tokenize)
    pair_acc = ((tf >= thr) == (ty == 1)).mean()
    n_faq = len({r[1] for r in test})
    print(f"\n| BQ test, first {len(test)} pairs | value |\n|---|---:|")
    print(f"| FAQ matching top-1 ({sum(ty)} positive questions vs {n_faq} FAQs) | **{pct(top1)}** |")
    print(f"| pair accuracy, fused-score threshold {thr:.3f} from validation | {pct(pair_acc)} |")
    print(f"| cosine Spearman x100 (C-MTEB style) | {100 * _spearman(tc, ty):.2f} |")


if __name__ == "__main__":
    main()
