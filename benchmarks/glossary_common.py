"""Shared helpers of the glossary benchmarks: datasets (read in place, never copied), a throw-away service."""

from __future__ import annotations

import csv
import gzip
import io
import json
import statistics
import tempfile
from collections import Counter
from pathlib import Path

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
FIBO = DATASETS / "fibo-glossary-en" / "fibo_glossary.tsv.gz"
LAWS = DATASETS / "zh-laws-lawrefbook" / "laws.jsonl.gz"
ACTER = DATASETS / "acter-corp-en"


def service(home: Path | None = None):  # noqa: ANN201 - GlossaryService
    """A GlossaryService on a fresh SQLite file."""
    import kb.auth  # noqa: F401 - core tables
    import kb.store  # noqa: F401
    from glossary.service import GlossaryService
    from kb.db import Database
    from kb.settings import Settings

    home = home or Path(tempfile.mkdtemp(prefix="glossary-bench-"))
    db = Database(f"sqlite:///{home / 'kb.sqlite'}")
    db.create_all()
    return GlossaryService(db, Settings(home=home))


def fibo_rows() -> list[dict[str, str]]:
    """The FIBO glossary rows."""
    with gzip.open(FIBO, "rt", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


def fibo_surfaces() -> list[str]:
    """Every FIBO label, synonym and abbreviation (what the service matches, for the raw baselines)."""
    out: list[str] = []
    for r in fibo_rows():
        out.append(r["label"])
        out += [x for x in (r["synonyms"] + "|" + r["abbreviations"]).split("|") if x.strip()]
    return out


def english_text(target_bytes: int) -> str:
    """Finance English: FIBO definitions and the ACTER corruption texts, repeated to ``target_bytes``."""
    parts = [r["definition"] for r in fibo_rows()]
    parts += [p.read_text(encoding="utf-8") for p in sorted((ACTER / "texts").glob("*.txt"))]
    base = "\n".join(parts)
    reps = target_bytes // len(base.encode()) + 1
    return _cut("\n".join([base] * reps), target_bytes)


def law_texts() -> list[str]:
    """The Chinese law texts (1,584 documents)."""
    with gzip.open(LAWS, "rt", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh]


def chinese_text(target_bytes: int) -> str:
    """The first ``target_bytes`` (UTF-8) of the laws corpus."""
    return _cut("\n".join(law_texts()), target_bytes)


def chinese_terms(n: int, sample_chars: int = 2_000_000) -> list[str]:
    """The ``n`` most frequent jieba words of 2+ CJK characters in the laws corpus (a realistic term list)."""
    import jieba

    tok = jieba.Tokenizer()
    sample = "\n".join(law_texts())[:sample_chars]
    counts = Counter(w for w in tok.cut(sample) if len(w) >= 2 and all("\u4e00" <= c <= "\u9fff" for c in w))
    return [w for w, _ in counts.most_common(n)]


def _cut(text: str, target_bytes: int) -> str:
    data = text.encode()[:target_bytes]
    return data.decode("utf-8", "ignore")


def chunks(text: str, size: int = 64 * 1024) -> list[str]:
    """Documents of about ``size`` characters, cut at line ends."""
    out, pos = [], 0
    while pos < len(text):
        end = text.find("\n", pos + size)
        end = len(text) if end < 0 else end + 1
        out.append(text[pos:end])
        pos = end
    return out


def tsv(terms: list[str]) -> bytes:
    """A minimal import file (term, definition) for a term list."""
    buf = io.StringIO()
    buf.write("term\tdefinition\n")
    for t in terms:
        buf.write(f"{t}\tdefinition of {t}\n")
    return buf.getvalue().encode()


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (0..100) of ``values``."""
    return statistics.quantiles(values, n=1000)[int(p * 10) - 1] if len(values) > 1 else values[0]
