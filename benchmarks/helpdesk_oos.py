"""Answer or escalate: CLINC150 and BANKING77-OOS with the helpdesk's matcher and calibration.

In-scope intents become FAQs (train utterances as variants). The confidence model (logistic regression on the
matcher features) is fitted on the *validation* split (in-scope + out-of-scope) exactly as
``kb helpdesk calibrate`` does, and the threshold is chosen there for a target precision; test is scored once.

Reported on test:
- in-scope accuracy (Larson et al. 2019, the anchor's metric): correct answers / all in-scope queries, where a
  query the bot escalates (predicts out-of-scope) counts as wrong;
- accuracy of answered in-scope questions: correct / in-scope queries the bot answered;
- out-of-scope recall: out-of-scope queries escalated / all out-of-scope queries.

    .venv/bin/python benchmarks/helpdesk_oos.py clinc150
    .venv/bin/python benchmarks/helpdesk_oos.py banking77-oos
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from collections import defaultdict

import numpy as np
from helpdesk_common import DATASETS, EmbeddingCache, pct

from helpdesk import calibration
from helpdesk.matcher import FaqIndex, FaqText
from kb.analysis import Analyzer

TARGETS = (0.90, 0.95, 0.97, 0.98, 0.99)
ANCHOR_OOS_RECALL = 0.523  # BERT oos-threshold, Larson et al. 2019, Table 2 (CLINC150 full)


def load_clinc() -> dict[str, list[tuple[str, str | None]]]:
    """Splits of CLINC150 (full): train, val, test with ``None`` as the out-of-scope label."""
    d = json.loads((DATASETS / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    out = {}
    for split, oos in (("train", "oos_train"), ("val", "oos_val"), ("test", "oos_test")):
        out[split] = [(t, y) for t, y in d[split]] + (
            [(t, None) for t, _ in d[oos]] if split != "train" else []
        )
    return out


def _tsv(name: str) -> list[tuple[str, str | None]]:
    with open(DATASETS / "banking77-oos" / name, newline="", encoding="utf-8") as fh:
        r = csv.reader(fh, delimiter="\t")
        next(r)
        return [(row[0], None if row[1] == "oos" else row[1]) for row in r]


def load_banking_oos() -> dict[str, list[tuple[str, str | None]]]:
    """BANKING77-OOS: 50 in-scope intents; ID-OOS and OOD-OOS in val and test."""
    return {
        "train": _tsv("train.tsv"),
        "val": _tsv("valid.tsv") + _tsv("id-oos.valid.tsv") + _tsv("ood-oos.valid.tsv"),
        "test": _tsv("test.tsv") + _tsv("id-oos.test.tsv") + _tsv("ood-oos.test.tsv"),
        "test_id_oos": _tsv("id-oos.test.tsv"),
        "test_ood_oos": _tsv("ood-oos.test.tsv"),
    }


def run_split(index: FaqIndex, rows: list, cache: EmbeddingCache) -> tuple[list[dict], list[str]]:
    """Matcher features and top-1 FAQ of each row."""
    vecs = cache.embed([t for t, _ in rows], progress=False)
    feats, tops = [], []
    for (text, _), v in zip(rows, vecs, strict=True):
        res = index.match(text, v, limit=2)
        feats.append(res.features)
        tops.append(res.candidates[0].faq_id)
    return feats, tops


def score(rows: list, tops: list[str], probs: list[float], threshold: float) -> dict[str, float]:
    """In-scope accuracy, answered accuracy and OOS recall at ``threshold``."""
    ins = [(y, t, p) for (_, y), t, p in zip(rows, tops, probs, strict=True) if y is not None]
    oos = [p for (_, y), p in zip(rows, probs, strict=True) if y is None]
    answered = [(y, t) for y, t, p in ins if p >= threshold]
    correct = sum(y == t for y, t in answered)
    return {
        "in_scope_acc": correct / len(ins),
        "answered_acc": correct / len(answered) if answered else 0.0,
        "oos_recall": sum(p < threshold for p in oos) / len(oos) if oos else float("nan"),
    }


def main() -> None:
    """Fit on validation, choose thresholds for several target precisions, report on test."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dataset", choices=["clinc150", "banking77-oos"])
    args = ap.parse_args()
    data = load_clinc() if args.dataset == "clinc150" else load_banking_oos()
    cache = EmbeddingCache("clinc150" if args.dataset == "clinc150" else "banking77")
    cache.embed([t for split in ("train", "val", "test") for t, _ in data[split]])
    by_intent: dict[str, list[str]] = defaultdict(list)
    for t, y in data["train"]:
        by_intent[y].append(t)
    faqs = [FaqText(y, ts) for y, ts in by_intent.items()]
    index = FaqIndex(
        faqs, Analyzer().tokens, cache.embed([q for f in faqs for q in f.questions], False), None
    )
    vf, vt = run_split(index, data["val"], cache)
    vlabels = [int(y is not None and y == t) for (_, y), t in zip(data["val"], vt, strict=True)]
    model = calibration.fit(vf, vlabels)
    vprobs = calibration.cross_val_predict(vf, vlabels)
    points = calibration.curve(vprobs, vlabels)
    tf, tt = run_split(index, data["test"], cache)
    tprobs = [calibration.predict(model, f) for f in tf]
    top1 = sum(y == t for (_, y), t in zip(data["test"], tt, strict=True) if y is not None)
    n_in = sum(y is not None for _, y in data["test"])
    print(
        f"\n{args.dataset}: {len(faqs)} FAQs, test {n_in} in-scope + {len(data['test']) - n_in} out-of-scope"
    )
    print(f"top-1 accuracy on in-scope test, never escalating: {pct(top1 / n_in)}\n")
    print("| target precision (val) | threshold | in-scope accuracy | answered accuracy | OOS recall |")
    print("|---:|---:|---:|---:|---:|")
    for target in TARGETS:
        thr, _ = calibration.choose_threshold(points, target)
        s = score(data["test"], tt, tprobs, thr)
        print(
            f"| {target} | {thr:.4f} | {pct(s['in_scope_acc'])} | {pct(s['answered_acc'])} "
            f"| {pct(s['oos_recall'])} |"
        )
        if args.dataset == "banking77-oos":
            _split_recall(data, index, cache, model, thr)
    vprobs_fit = [calibration.predict(model, f) for f in vf]
    thr = matched_threshold(data["val"], vprobs_fit, ANCHOR_OOS_RECALL)
    s = score(data["test"], tt, tprobs, thr)
    print(
        f"| OOS recall >= {ANCHOR_OOS_RECALL} on val | {thr:.4f} | {pct(s['in_scope_acc'])} "
        f"| {pct(s['answered_acc'])} | {pct(s['oos_recall'])} |"
    )


def matched_threshold(rows: list, probs: list[float], recall: float) -> float:
    """The lowest threshold that escalates a share ``recall`` of the out-of-scope ``rows``."""
    oos = sorted(p for (_, y), p in zip(rows, probs, strict=True) if y is None)
    k = math.ceil(recall * len(oos))
    return float(np.nextafter(oos[k - 1], np.inf)) if k else 0.0


def _split_recall(data: dict, index: FaqIndex, cache: EmbeddingCache, model: dict, thr: float) -> None:
    for name in ("test_id_oos", "test_ood_oos"):
        feats, _ = run_split(index, data[name], cache)
        rec = sum(calibration.predict(model, f) < thr for f in feats) / len(feats)
        print(f"|  | {name} recall | | | {pct(rec)} |")


if __name__ == "__main__":
    main()
