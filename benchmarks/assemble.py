"""Rebuild BENCHMARKS.md's per-area sections from ``benchmarks/results/*.md``.

BENCHMARKS.md = its own hand-written head (summary against the issues' targets, everything before the first
per-area section) + each results file with its headings demoted one level, in a fixed order. Each benchmark
script writes (or its run's output is pasted into) its results file; this keeps the two in step.

    .venv/bin/python benchmarks/assemble.py
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDER = ("core", "embeddings", "glossary", "helpdesk")


def demote(text: str) -> str:
    """Every markdown heading one level deeper."""
    return re.sub(r"(?m)^(#+) ", lambda m: "#" + m.group(1) + " ", text)


def main() -> None:
    """Rewrite BENCHMARKS.md in place."""
    path = ROOT / "BENCHMARKS.md"
    results = ROOT / "benchmarks" / "results"
    parts = [demote((results / f"{name}.md").read_text(encoding="utf-8")) for name in ORDER]
    current = path.read_text(encoding="utf-8")
    first = parts[0].splitlines()[0]
    head = current[: current.index(first)] if first in current else current.rstrip() + "\n\n"
    path.write_text(head + "\n".join(p.rstrip() + "\n" for p in parts), encoding="utf-8")


if __name__ == "__main__":
    main()
