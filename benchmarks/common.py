"""Shared helpers of the core benchmarks: BEIR-layout datasets, IR metrics, cached knowledge bases.

Datasets are read in place from ``../shared/datasets/<name>/`` (``corpus.jsonl[.gz]``, ``queries.jsonl``,
``qrels/<split>.tsv``); nothing is copied into the project. Each benchmark knowledge base lives under
``benchmarks/.cache/<kb name>/`` (gitignored): its SQLite store caches the chunk embeddings by content hash,
so re-running a benchmark re-ingests nothing and embeds nothing.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from indexer.connectors import iter_source  # noqa: E402
from indexer.pipeline import IngestReport, ingest_documents  # noqa: E402
from kb.analysis import Analyzer  # noqa: E402
from kb.engine import KnowledgeBase  # noqa: E402
from kb.models import SkippedFile, SourceDocument  # noqa: E402
from kb.settings import Settings  # noqa: E402

DATASETS = Path(os.environ.get("KB_DATASETS", ROOT.parent / "shared" / "datasets"))
CACHE = ROOT / "benchmarks" / ".cache"

log = logging.getLogger("bench")


@dataclass(frozen=True)
class DatasetSpec:
    """Where a benchmark dataset lives and which split is reported."""

    key: str
    folder: str
    split: str  # the split that is reported
    tune_split: str | None  # the split used for tuning (never the reported one), if any
    lang: str


DATASET_SPECS: dict[str, DatasetSpec] = {
    "scifact": DatasetSpec("scifact", "beir-scifact", "test", "train", "en"),
    "stard": DatasetSpec("stard", "zh-stard-lawrefbook", "dev", "train", "zh"),
    "esun": DatasetSpec("esun", "esun-aicup2024-faq", "test", None, "zh-Hant"),
}


def dataset_dir(spec: DatasetSpec) -> Path:
    """The dataset's folder under the shared datasets directory."""
    return DATASETS / spec.folder


def corpus_path(spec: DatasetSpec) -> Path:
    """``corpus.jsonl.gz`` or ``corpus.jsonl`` of a dataset."""
    d = dataset_dir(spec)
    for name in ("corpus.jsonl.gz", "corpus.jsonl"):
        if (d / name).exists():
            return d / name
    raise FileNotFoundError(f"no corpus.jsonl[.gz] in {d}")


def _open_text(path: Path):  # noqa: ANN202 - a text stream
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")


def load_corpus_ids(spec: DatasetSpec) -> list[str]:
    """All document ids of the corpus, in file order."""
    with _open_text(corpus_path(spec)) as fh:
        return [str(json.loads(line)["_id"]) for line in fh if line.strip()]


def load_queries(spec: DatasetSpec) -> dict[str, str]:
    """query id -> query text (all queries of the dataset)."""
    out: dict[str, str] = {}
    with _open_text(dataset_dir(spec) / "queries.jsonl") as fh:
        for line in fh:
            if line.strip():
                r = json.loads(line)
                out[str(r["_id"])] = r["text"]
    return out


def load_qrels(spec: DatasetSpec, split: str) -> dict[str, dict[str, int]]:
    """query id -> {doc id: relevance} from ``qrels/<split>.tsv`` (header line skipped)."""
    out: dict[str, dict[str, int]] = {}
    with (dataset_dir(spec) / "qrels" / f"{split}.tsv").open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            parts = line.rstrip("\n").split("\t")
            if i == 0 and parts[0] == "query-id" or len(parts) < 3:
                continue
            out.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return out


# --- metrics -------------------------------------------------------------------------------------------
def ndcg_at_k(ranked: list[str], rels: dict[str, int], k: int = 10) -> float:
    """nDCG@k with graded gains (rel), log2 discount, as in BEIR/pytrec_eval."""
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((r for r in rels.values() if r > 0), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: list[str], rels: dict[str, int], k: int = 100) -> float:
    """Fraction of the relevant documents found in the top k."""
    relevant = {d for d, r in rels.items() if r > 0}
    if not relevant:
        return 0.0
    return len(relevant & set(ranked[:k])) / len(relevant)


def precision_at_1(ranked: list[str], rels: dict[str, int]) -> float:
    """1 if the first result is relevant."""
    return 1.0 if ranked and rels.get(ranked[0], 0) > 0 else 0.0


def mrr_at_k(ranked: list[str], rels: dict[str, int], k: int = 10) -> float:
    """Reciprocal rank of the first relevant result within the top k (0 if none)."""
    for i, d in enumerate(ranked[:k]):
        if rels.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


METRICS: dict[str, Callable[[list[str], dict[str, int]], float]] = {
    "nDCG@10": ndcg_at_k,
    "Recall@100": recall_at_k,
    "P@1": precision_at_1,
    "MRR@10": mrr_at_k,
}


def evaluate(run: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """Mean of every metric over the queries of ``qrels`` (a query missing from ``run`` scores 0)."""
    out: dict[str, float] = {}
    for name, fn in METRICS.items():
        vals = [fn(run.get(q, []), rels) for q, rels in qrels.items()]
        out[name] = sum(vals) / len(vals) if vals else 0.0
    return out


# --- knowledge bases -----------------------------------------------------------------------------------
def bench_settings(kb_name: str, embed: bool = True, **overrides: Any) -> Settings:
    """Settings of a benchmark knowledge base under ``benchmarks/.cache/<kb_name>``.

    Everything that matters is passed explicitly so a stray ``KB_*`` variable or ``.env`` cannot change it.
    """
    values: dict[str, Any] = {
        "home": CACHE / kb_name,
        "database_url": None,
        "embedder": "e5" if embed else "none",
        "index_backend": "embedded",
        "auth": "on",
        "chunk_tokens": 512,
        "max_top_k": 100,
    }
    values.update(overrides)
    return Settings(**values)


def _logged(items: Iterable[SourceDocument | SkippedFile], every: int, label: str) -> Iterator:
    """Pass items through, logging progress every ``every`` items."""
    t0 = time.perf_counter()
    for n, item in enumerate(items, start=1):
        yield item
        if n % every == 0:
            dt = time.perf_counter() - t0
            log.info("%s: %d docs read in %.0f s (%.1f docs/s)", label, n, dt, n / dt)


def build_kb(
    kb_name: str,
    spec: DatasetSpec,
    embed: bool = True,
    keep: Callable[[str], bool] | None = None,
    order: list[str] | None = None,
    analyzer: Analyzer | None = None,
    progress_every: int = 500,
    **overrides: Any,
) -> tuple[KnowledgeBase, IngestReport | None]:
    """Open (and, if not complete, ingest) the knowledge base of a dataset, library = ``spec.key``.

    The corpus is streamed through the project's own jsonl connector (BEIR ``_id`` kept as the document id)
    and :func:`indexer.pipeline.ingest_documents`; ``keep`` selects a subset of document ids; ``order`` (ids)
    both selects and orders the documents, so an interrupted build holds a well-defined prefix; ``analyzer``
    replaces the knowledge base's analyzer (index and query side) before anything is indexed. The ingest is
    incremental, so an interrupted build resumes where it stopped, and a finished one is re-used at the cost
    of reading the store's document count.
    """
    settings = bench_settings(kb_name, embed=embed, **overrides)
    kb = KnowledgeBase(settings)
    if analyzer is not None:
        kb.analyzer = kb.bm25.analyzer = analyzer
    ids = load_corpus_ids(spec)
    if order is not None:
        wanted = set(order)
        keep = wanted.__contains__
    expected = sum(1 for i in ids if keep is None or keep(i))
    marker = settings.home / "complete.json"
    if marker.exists() and json.loads(marker.read_text()).get("documents") == expected:
        kb.sync(force=True)
        return kb, None
    source = iter_source(corpus_path(spec), "jsonl", max_file_bytes=settings.max_file_bytes)
    docs: Iterable[SourceDocument | SkippedFile] = (
        d for d in source if not isinstance(d, SourceDocument) or keep is None or keep(d.doc_id)
    )
    if order is not None:
        by_id = {d.doc_id: d for d in docs if isinstance(d, SourceDocument)}
        docs = (by_id[i] for i in order if i in by_id)
    report = ingest_documents(kb, spec.key, _logged(docs, progress_every, kb_name))
    n = kb.store.count_documents()
    log.info("%s: %s", kb_name, report.summary())
    if n == expected:
        marker.write_text(json.dumps({"documents": n, "embedded": embed, "model": kb.model_name}))
    else:
        log.warning("%s: %d documents in the store, %d expected", kb_name, n, expected)
    return kb, report


def stard_subset_order(spec: DatasetSpec, distractors: int, seed: int = 13) -> list[str]:
    """Every qrels-relevant STARD article (all splits, sorted), then ``distractors`` other articles in a
    seeded random order: any prefix that covers the relevant ones is "relevant + the first N distractors"."""
    relevant = sorted({d for rels in load_qrels(spec, "all").values() for d in rels})
    others = sorted(set(load_corpus_ids(spec)) - set(relevant))
    rng = random.Random(seed)
    return relevant + rng.sample(others, min(distractors, len(others)))


def setup_logging() -> None:
    """INFO logs with timestamps on stderr (flushed: runs are often under nohup)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def rss_mb() -> float:
    """Peak resident set size of this process in MiB (Linux ru_maxrss is in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
