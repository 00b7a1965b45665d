"""Retrieval quality of the core search on BEIR-layout datasets (SciFact, STARD, E.SUN FAQ).

Usage::

    .venv/bin/python benchmarks/quality.py --dataset scifact [--modes bm25,vector,hybrid] [--fusion rrf]
    .venv/bin/python benchmarks/quality.py --dataset scifact --tune          # grid on the train split
    .venv/bin/python benchmarks/quality.py --dataset stard --subset full --modes bm25 --analyzer jieba+bigram

The corpus is ingested with the project's own pipeline (jsonl connector, chunking, embeddings cached in the
knowledge base's SQLite store under ``benchmarks/.cache/<kb>/``), then every query of the reported split runs
through :class:`kb.search.SearchService` as a superuser principal with ``top_k=100``. Tuning (``--tune``) only
ever looks at the dataset's tuning split (SciFact train, STARD train); the reported split is never tuned on.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    CACHE,
    DATASET_SPECS,
    DatasetSpec,
    bench_settings,
    build_kb,
    evaluate,
    load_qrels,
    load_queries,
    setup_logging,
    stard_subset_order,
)
from kb.analysis import Analyzer  # noqa: E402
from kb.engine import KnowledgeBase  # noqa: E402
from kb.fusion import Fused, rrf, weighted  # noqa: E402
from kb.models import Principal  # noqa: E402
from kb.search import SearchRequest, SearchService  # noqa: E402
from kb.store import DocumentRow  # noqa: E402

log = logging.getLogger("bench.quality")
PRINCIPAL = Principal("bench", superuser=True)
TOP_K = 100
STARD_DISTRACTORS = 8555  # 1,445 relevant + 8,555 random others = 10,000 articles (if the build finishes)


# --- analyzer prototype -------------------------------------------------------------------------------
class BigramAnalyzer(Analyzer):
    """Prototype: jieba search-mode words PLUS overlapping character bigrams of every CJK run.

    Bigrams recover matches that jieba's segmentation splits differently in the question and in the statute
    (e.g. layperson vs. legal wording); the words keep exact-word precision. Latin text is unchanged.
    """

    def _cjk_tokens(self, run: str) -> list[str]:
        words = super()._cjk_tokens(run)
        grams = [run[i : i + 2] for i in range(len(run) - 1)]
        return words + [g for g in grams if g not in words]


class BigramOnlyAnalyzer(Analyzer):
    """Prototype: overlapping character bigrams only (single characters for one-character runs)."""

    def _cjk_tokens(self, run: str) -> list[str]:
        if len(run) == 1:
            return [run]
        return [run[i : i + 2] for i in range(len(run) - 1)]


# Chinese question and pronoun words (a generic list, not derived from the benchmark queries).
_ZH_QUESTION_TEXT = (
    "什么 怎么 怎么办 怎样 怎么样 如何 为什么 为何 是否 能否 可否 可以 能 会 吗 呢 吧 哪 哪些 哪里 "
    "哪个 谁 多少 几 请问 请 我 我们 你 你们 他 她 他们 它 该 应该 要 需要 想 有 没有 还 又 这 那 "
    "这个 那个 这样 那样"
)
ZH_QUESTION_WORDS = frozenset(_ZH_QUESTION_TEXT.split())


def with_query_stopwords(analyzer: Analyzer) -> Analyzer:
    """Prototype (query side only, index unchanged): drop Chinese question words from query terms."""
    base = analyzer.query_terms

    def query_terms(text: str) -> list[str]:
        terms = base(text)
        kept = [t for t in terms if t not in ZH_QUESTION_WORDS]
        return kept or terms

    analyzer.query_terms = query_terms  # type: ignore[method-assign]
    return analyzer


ANALYZERS: dict[str, type[Analyzer] | None] = {
    "jieba": None,
    "jieba+bigram": BigramAnalyzer,
    "bigram": BigramOnlyAnalyzer,
}


def open_kb(dataset: str, subset: str, embed: bool, analyzer: str = "jieba") -> tuple[KnowledgeBase, str]:
    """The benchmark knowledge base of a dataset (built on first use); returns it and its cache name."""
    spec = DATASET_SPECS[dataset]
    order = None
    name = dataset
    if dataset == "stard" and subset == "sub":
        name = "stard-sub"
        order = stard_subset_order(spec, STARD_DISTRACTORS)
    if not embed and name != "stard-sub":
        name += "-bm25"
    if analyzer != "jieba":
        name += f"-{analyzer}"
    cls = ANALYZERS[analyzer]
    kb = _open_with_analyzer(name, spec, embed, order, cls)
    return kb, name


def _open_with_analyzer(
    name: str, spec: DatasetSpec, embed: bool, order: list[str] | None, cls: type[Analyzer] | None
) -> KnowledgeBase:
    """Open/build a KB; for a prototype analyzer, seed it from the default KB's store (copied) when that one
    is complete, and rebuild only the BM25 index with the prototype analyzer."""
    analyzer = cls() if cls is not None else None
    base = name.rsplit("-", 1)[0] if cls is not None else None
    if base and (CACHE / base / "complete.json").exists() and not (CACHE / name / "complete.json").exists():
        import shutil

        (CACHE / name).mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            src = CACHE / base / f"kb.sqlite{suffix}"
            if src.exists():
                shutil.copy(src, CACHE / name / src.name)
        kb = KnowledgeBase(bench_settings(name, embed=embed))
        kb.analyzer = kb.bm25.analyzer = analyzer  # type: ignore[assignment]
        t = time.perf_counter()
        n = kb.rebuild_bm25()
        log.info(
            "%s: BM25 rebuilt with %s over %d chunks in %.0f s",
            name,
            cls.__name__,
            n,
            time.perf_counter() - t,
        )
        shutil.copy(CACHE / base / "complete.json", CACHE / name / "complete.json")
    kb, _ = build_kb(name, spec, embed=embed, order=order, analyzer=analyzer)
    return kb


# --- running queries -----------------------------------------------------------------------------------
def doc_ids_by_pk(kb: KnowledgeBase) -> dict[int, str]:
    """document pk -> doc_id of every document in the store."""
    from sqlalchemy import select

    with kb.db.session() as s:
        return dict(s.execute(select(DocumentRow.id, DocumentRow.doc_id)).all())


def run_service(
    service: SearchService, queries: dict[str, str], qids: Iterable[str], mode: str, top_k: int = TOP_K
) -> tuple[dict[str, list[str]], list[float]]:
    """Ranked doc ids per query through the public ``SearchService.search``, and per-query latency (ms)."""
    run: dict[str, list[str]] = {}
    took: list[float] = []
    for q in qids:
        t = time.perf_counter()
        resp = service.search(SearchRequest(query=queries[q], top_k=top_k, mode=mode), PRINCIPAL)
        took.append((time.perf_counter() - t) * 1000)
        run[q] = [h.doc_id for h in resp.hits]
    return run, took


def retrieve_lists(
    service: SearchService, queries: dict[str, str], qids: Iterable[str], mode: str = "hybrid"
) -> dict[str, dict]:
    """The per-retriever ranked lists exactly as ``SearchService.search`` builds them for ``top_k=100``
    (pool 500), so that fusion parameters can be swept without re-retrieving."""
    from kb.index.base import SearchFilter

    out: dict[str, dict] = {}
    pool = max(100, TOP_K * 5)
    for q in qids:
        req = SearchRequest(query=queries[q], top_k=TOP_K, mode=mode)
        terms = service._terms(req.query)
        out[q] = service._retrieve(req, terms, SearchFilter(), pool)
    return out


def fuse_run(
    lists: dict[str, dict], pk2id: dict[int, str], method: str, rrf_k: int = 60, w: float = 0.5
) -> dict[str, list[str]]:
    """Fuse pre-retrieved lists (the same functions as the service) and keep the top 100 doc ids."""
    run: dict[str, list[str]] = {}
    for q, ls in lists.items():
        if method == "rrf":
            fused: list[Fused] = rrf(ls, k=rrf_k)
        elif method == "weighted":
            fused = weighted(ls, {"bm25": w, "vector": 1 - w})
        else:  # a single retriever
            fused = [Fused(d, s) for d, s, _ in ls[method]]
        run[q] = [pk2id[f.document_pk] for f in fused[:TOP_K] if f.document_pk in pk2id]
    return run


# --- tuning --------------------------------------------------------------------------------------------
def tune(
    kb: KnowledgeBase,
    spec: DatasetSpec,
    qrels: dict[str, dict[str, int]],
    queries: dict[str, str],
    with_vectors: bool,
) -> dict[str, Any]:
    """Grid over title_boost (BM25), rrf_k and the weighted BM25 weight, on the tuning split only."""
    service = SearchService(kb)
    pk2id = doc_ids_by_pk(kb)
    qids = [q for q in qrels if q in queries]
    result: dict[str, Any] = {"split": spec.tune_split, "queries": len(qids), "title_boost": {}}
    for tb in (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0):
        kb.bm25.title_boost = tb
        lists = retrieve_lists(service, queries, qids, mode="bm25")
        m = evaluate(fuse_run(lists, pk2id, "bm25"), qrels)
        result["title_boost"][tb] = m
        log.info(
            "tune %s title_boost=%.2f: nDCG@10 %.4f R@100 %.4f", spec.key, tb, m["nDCG@10"], m["Recall@100"]
        )
    best_tb = max(result["title_boost"], key=lambda t: result["title_boost"][t]["nDCG@10"])
    result["best_title_boost"] = best_tb
    kb.bm25.title_boost = best_tb
    if not with_vectors:
        return result
    lists = retrieve_lists(service, queries, qids, mode="hybrid")
    result["vector"] = evaluate(fuse_run(lists, pk2id, "vector"), qrels)
    result["rrf"] = {}
    for k in (5, 10, 20, 40, 60, 100):
        result["rrf"][k] = evaluate(fuse_run(lists, pk2id, "rrf", rrf_k=k), qrels)
        log.info("tune rrf_k=%d: nDCG@10 %.4f", k, result["rrf"][k]["nDCG@10"])
    result["weighted"] = {}
    for w in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
        result["weighted"][w] = evaluate(fuse_run(lists, pk2id, "weighted", w=w), qrels)
        log.info("tune weighted w_bm25=%.1f: nDCG@10 %.4f", w, result["weighted"][w]["nDCG@10"])
    result["best_rrf_k"] = max(result["rrf"], key=lambda k: result["rrf"][k]["nDCG@10"])
    result["best_weight"] = max(result["weighted"], key=lambda w: result["weighted"][w]["nDCG@10"])
    best_rrf = result["rrf"][result["best_rrf_k"]]["nDCG@10"]
    best_w = result["weighted"][result["best_weight"]]["nDCG@10"]
    result["best_fusion"] = "rrf" if best_rrf >= best_w else "weighted"
    return result


# --- report --------------------------------------------------------------------------------------------
def table(rows: list[dict[str, Any]], metrics: list[str]) -> str:
    """A markdown table of result rows."""
    head = "| run | mode | fusion | " + " | ".join(metrics) + " | p50 ms |"
    sep = "|---|---|---|" + "---:|" * (len(metrics) + 1)
    lines = [head, sep]
    for r in rows:
        vals = " | ".join(f"{r['metrics'][m]:.4f}" for m in metrics)
        lines.append(f"| {r['label']} | {r['mode']} | {r['fusion']} | {vals} | {r['p50_ms']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point; prints a markdown table and writes JSON under benchmarks/.cache/results/."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=sorted(DATASET_SPECS), required=True)
    ap.add_argument("--modes", default="bm25,vector,hybrid")
    ap.add_argument("--fusion", default="rrf,weighted")
    ap.add_argument("--split", default=None, help="qrels split to report (default: the dataset's)")
    ap.add_argument(
        "--subset",
        choices=["full", "sub"],
        default="full",
        help="STARD only: full 58,625-article corpus, or relevant + random distractors",
    )
    ap.add_argument(
        "--analyzer",
        choices=sorted(ANALYZERS),
        default="jieba",
        help="prototype analyzers (subclasses in this script), measured on a separate KB",
    )
    ap.add_argument(
        "--query-stopwords", action="store_true", help="prototype: drop question words in queries"
    )
    ap.add_argument("--title-boost", type=float, default=None)
    ap.add_argument("--rrf-k", type=int, default=None)
    ap.add_argument("--bm25-weight", type=float, default=None)
    ap.add_argument("--tune", action="store_true", help="grid-search on the tuning split, print, exit")
    ap.add_argument("--label", default="")
    args = ap.parse_args(argv)
    setup_logging()

    spec = DATASET_SPECS[args.dataset]
    modes = [m for m in args.modes.split(",") if m]
    embed = any(m != "bm25" for m in modes)
    kb, kb_name = open_kb(args.dataset, args.subset, embed, args.analyzer)
    if args.query_stopwords:
        with_query_stopwords(kb.analyzer)
    if args.title_boost is not None:
        kb.bm25.title_boost = args.title_boost
    if args.rrf_k is not None:
        kb.settings.rrf_k = args.rrf_k
    if args.bm25_weight is not None:
        kb.settings.hybrid_bm25_weight = args.bm25_weight
    queries = load_queries(spec)
    n_docs = kb.store.count_documents()
    out_dir = CACHE / "results"
    out_dir.mkdir(parents=True, exist_ok=True)

    if args.tune:
        if not spec.tune_split:
            print(f"{args.dataset} has no tuning split")
            return 2
        qrels = load_qrels(spec, spec.tune_split)
        if kb_name == "stard-sub":
            present = set(doc_ids_by_pk(kb).values())
            qrels = {q: r for q, r in qrels.items() if set(r) <= present}
        res = tune(kb, spec, qrels, queries, with_vectors=embed)
        res.update(kb=kb_name, documents=n_docs, analyzer=args.analyzer, query_stopwords=args.query_stopwords)
        (out_dir / f"tune-{kb_name}{'-qstop' if args.query_stopwords else ''}.json").write_text(
            json.dumps(res, indent=1, default=str)
        )
        print(json.dumps(res, indent=1, default=str))
        return 0

    split = args.split or spec.split
    qrels = load_qrels(spec, split)
    if kb_name.startswith("stard-sub"):
        present = set(doc_ids_by_pk(kb).values())
        missing = sum(1 for r in qrels.values() for d in r if d not in present)
        if missing:
            log.warning("%d relevant documents are not in the subset", missing)
    qids = [q for q in qrels if q in queries]
    service = SearchService(kb)
    rows: list[dict[str, Any]] = []
    label = args.label or f"{kb_name} ({n_docs} docs, {split}, {len(qids)} q)"
    for mode in modes:
        fusions = args.fusion.split(",") if mode == "hybrid" else ["-"]
        for fusion in fusions:
            if mode == "hybrid":
                kb.settings.fusion = fusion  # type: ignore[assignment]
            service.search(SearchRequest(query=queries[qids[0]], top_k=TOP_K, mode=mode), PRINCIPAL)  # warm
            run, took = run_service(service, queries, qids, mode)
            took.sort()
            m = evaluate(run, qrels)
            row = {
                "label": label,
                "mode": mode,
                "fusion": fusion,
                "metrics": m,
                "p50_ms": took[len(took) // 2],
                "title_boost": kb.bm25.title_boost,
                "rrf_k": kb.settings.rrf_k,
                "bm25_weight": kb.settings.hybrid_bm25_weight,
                "analyzer": args.analyzer,
                "query_stopwords": args.query_stopwords,
                "documents": n_docs,
                "queries": len(qids),
                "split": split,
            }
            rows.append(row)
            log.info("%s %s %s: %s", kb_name, mode, fusion, {k: round(v, 4) for k, v in m.items()})
    metrics = ["nDCG@10", "Recall@100", "P@1", "MRR@10"]
    md = table(rows, metrics)
    print(md)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out_dir / f"quality-{kb_name}-{split}-{stamp}.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
