"""Span precision/recall/F1 of glossary highlighting against ACTER's human IOB annotations (corp, English).

    .venv/bin/python benchmarks/glossary_acter.py [--nes]

The ACTER term list is the glossary; each text is highlighted as plain text; gold spans are the B(I*) token
runs of the IOB files, aligned to character offsets of the raw text. A predicted span counts when start and
end equal a gold span's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.glossary_common import ACTER, service


def _gold(iob: Path, text: str) -> set[tuple[int, int]]:
    """Gold character spans: tokens are found in order in ``text`` (tokenisation never reorders)."""
    spans: set[tuple[int, int]] = set()
    pos, cur = 0, None
    for line in iob.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        tok, _, label = line.rpartition("\t")
        i = text.find(tok, pos)
        if i < 0 or i - pos > 200:  # a token not in the raw text (normalised quote...): skip it
            start = end = None
        else:
            start, end, pos = i, i + len(tok), i + len(tok)
        if label == "B" or label == "O" or start is None:
            if cur:
                spans.add(cur)
            cur = (start, end) if label == "B" and start is not None else None
        elif label == "I" and cur:
            cur = (cur[0], end)
    if cur:
        spans.add(cur)
    return spans


def evaluate(nes: bool, inflect: bool) -> tuple[int, int, int]:
    """(true positives, predicted, gold) over the 12 texts."""
    suffix = "_nes" if nes else ""
    terms = (ACTER / "annotations" / "unique_annotation_lists" / f"corp_en_terms{suffix}.tsv").read_text()
    data = "term\tdefinition\tinflect\n" + "".join(
        f"{line.split(chr(9))[0]}\t{line.split(chr(9))[-1]}\t{inflect}\n"
        for line in terms.splitlines()
        if line
    )
    svc = service()
    svc.import_data(data, fmt="tsv")
    sub = "with_named_entities" if nes else "without_named_entities"
    tp = npred = ngold = 0
    for txt in sorted((ACTER / "texts").glob("corp_en_*.txt")):
        text = txt.read_text(encoding="utf-8")
        iob = ACTER / "annotations" / "sequential_annotations" / "iob_annotations" / sub
        gold = _gold(iob / f"{txt.stem}_seq_terms{suffix}.tsv", text)
        pred = {(m["start"], m["end"]) for m in svc.highlight(text)["matches"]}
        tp, npred, ngold = tp + len(pred & gold), npred + len(pred), ngold + len(gold)
    return tp, npred, ngold


def main() -> None:
    """Print P/R/F1 with and without English plural matching."""
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--nes", action="store_true", help="use the term list and gold that include named entities"
    )
    args = ap.parse_args()
    print("| gold | plurals | gold spans | predicted | TP | P | R | F1 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for inflect in (True, False):
        tp, npred, ngold = evaluate(args.nes, inflect)
        p, r = tp / max(npred, 1), tp / max(ngold, 1)
        f1 = 2 * p * r / max(p + r, 1e-9)
        label = "terms + NEs" if args.nes else "terms (no NEs)"
        cells = [label, "on" if inflect else "off", ngold, npred, tp, f"{p:.3f}", f"{r:.3f}", f"{f1:.3f}"]
        print("| " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
