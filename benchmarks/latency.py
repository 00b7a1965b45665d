"""Latency, throughput, memory and ingest speed of the core search at 100k chunks.

Usage::

    .venv/bin/python benchmarks/latency.py [--chunks 100000] [--queries 200] [--clients 4,8]

Corpus (replicated, not synthetic text): the 5,183 SciFact abstracts are copied until there are ``--chunks``
documents of one chunk each, replica ``r`` of a document gets the id ``<id>-r<r>`` and a small text
perturbation (one word dropped at a seeded random position, plus a replica marker word), so no two chunks are
identical. Vectors are the cached e5 embeddings of the SciFact documents (from the ``scifact`` quality KB)
plus Gaussian noise (sigma 0.01 per dimension), renormalised. Half of the documents (odd replicas) have the
ACL ``group:restricted``, which the benchmark principal (user ``bench``, group ``staff``) lacks; the other
half ``group:staff``. The corpus is written directly through :meth:`kb.store.Store.write_documents` in batches
of 1,000 documents (the full pipeline's chunking and embedding are skipped; the store, change log and the
BM25 / vector indexes are the real ones). Cached under ``benchmarks/.cache/latency-<n>/``.

Measured: p50/p95 of bm25, vector and hybrid in-process (``SearchService.search``, top_k=10, with and without
the query embedding) and over HTTP (uvicorn + ``create_app`` in a subprocess on 127.0.0.1, ``KB_AUTH`` on, a
bearer token from ``kb.tokens.create``), QPS with concurrent httpx clients, peak RSS, ingest throughput with
and without embedding through the real pipeline on a sample.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    CACHE,
    DATASET_SPECS,
    bench_settings,
    corpus_path,
    load_qrels,
    load_queries,
    rss_mb,
    setup_logging,
)
from kb.engine import KnowledgeBase  # noqa: E402
from kb.models import Chunk, Principal, SourceDocument, content_hash  # noqa: E402
from kb.search import SearchRequest, SearchService  # noqa: E402

log = logging.getLogger("bench.latency")
PRINCIPAL = Principal("bench", groups=("staff",))
NOISE = 0.01
LIBRARY = "scifact-x"


# --- corpus --------------------------------------------------------------------------------------------
def scifact_docs_and_vectors() -> tuple[list[dict[str, str]], dict[str, np.ndarray]]:
    """SciFact documents and their cached e5 vectors (first chunk of each embedded document)."""
    import gzip

    from sqlalchemy import select

    from kb.store import ChunkRow, DocumentRow, EmbeddingRow, bytes_to_vec

    spec = DATASET_SPECS["scifact"]
    with gzip.open(corpus_path(spec), "rt", encoding="utf-8") as fh:
        docs = [json.loads(line) for line in fh if line.strip()]
    kb = KnowledgeBase(bench_settings("scifact", embed=True), embedder=None)
    vecs: dict[str, np.ndarray] = {}
    with kb.db.session() as s:
        q = (
            select(DocumentRow.doc_id, ChunkRow.ordinal, EmbeddingRow.vector)
            .join(ChunkRow, ChunkRow.document_id == DocumentRow.id)
            .join(EmbeddingRow, EmbeddingRow.content_hash == ChunkRow.content_hash)
            .order_by(ChunkRow.ordinal.desc())
        )
        for doc_id, _, v in s.execute(q):
            vecs[doc_id] = bytes_to_vec(v).copy()  # ordinal 0 written last: the first chunk wins
    return docs, vecs


def _perturb(text: str, rng: random.Random, replica: int) -> str:
    words = text.split()
    if len(words) > 5:
        del words[rng.randrange(len(words))]
    return " ".join(words) + f" rep{replica}"


def build_latency_kb(n_chunks: int, model: str) -> tuple[KnowledgeBase, dict[str, Any]]:
    """The replicated corpus (see module doc), built once and cached."""
    settings = bench_settings(f"latency-{n_chunks}", embed=True)
    kb = KnowledgeBase(settings)
    marker = settings.home / "complete.json"
    if marker.exists():
        info = json.loads(marker.read_text())
        if info.get("chunks") == n_chunks:
            return kb, info
    docs, vecs = scifact_docs_and_vectors()
    base = [d for d in docs if d["_id"] in vecs]
    if not base:
        raise SystemExit("no cached SciFact embeddings: run `benchmarks/quality.py --dataset scifact` first")
    log.info("base documents with cached vectors: %d of %d", len(base), len(docs))
    rng = random.Random(7)
    nrng = np.random.default_rng(7)
    lib = kb.store.ensure_library(LIBRARY)
    t0 = time.perf_counter()
    written = 0
    batch: list[tuple[SourceDocument, list[Chunk], list[str]]] = []
    emb: dict[str, np.ndarray] = {}
    while written < n_chunks:
        replica = written // len(base)
        d = base[written % len(base)]
        text = _perturb(d["text"], rng, replica)
        acl = ["group:restricted"] if replica % 2 else ["group:staff"]
        doc = SourceDocument(doc_id=f"{d['_id']}-r{replica}", title=d.get("title", ""), text=text, acl=acl)
        chunk = Chunk(chunk_id=content_hash(doc.doc_id, "0"), ordinal=0, text=text)
        h = content_hash(chunk.embed_text(doc.title))
        v = vecs[d["_id"]] + nrng.normal(0.0, NOISE, size=vecs[d["_id"]].shape).astype(np.float32)
        emb[h] = (v / np.linalg.norm(v)).astype(np.float32)
        batch.append((doc, [chunk], [h]))
        written += 1
        if len(batch) >= 1000 or written == n_chunks:
            kb.store.write_documents(lib, batch, emb, model)
            batch, emb = [], {}
            if written % 10000 == 0 or written == n_chunks:
                log.info("written %d docs (%.0f docs/s)", written, written / (time.perf_counter() - t0))
    t_store = time.perf_counter() - t0
    kb.store.set_meta("embed_model", model)
    t1 = time.perf_counter()
    kb.sync(force=True)  # BM25: analyse + index every chunk
    t_bm25 = time.perf_counter() - t1
    info = {
        "chunks": n_chunks,
        "base_docs": len(base),
        "store_write_s": round(t_store, 1),
        "store_docs_per_s": round(n_chunks / t_store, 1),
        "bm25_index_s": round(t_bm25, 1),
        "bm25_chunks_per_s": round(n_chunks / t_bm25, 1),
    }
    marker.write_text(json.dumps(info))
    return kb, info


# --- measurements --------------------------------------------------------------------------------------
def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``values`` in ms."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


def summary(values: list[float]) -> dict[str, float]:
    """p50/p95/mean of a list of ms."""
    return {
        "p50": round(pct(values, 50), 2),
        "p95": round(pct(values, 95), 2),
        "mean": round(sum(values) / len(values), 2),
        "n": len(values),
    }


def _restricted(doc_id: str) -> bool:
    """Odd replicas carry the ACL the benchmark principal lacks."""
    return int(doc_id.rsplit("-r", 1)[1]) % 2 == 1


def in_process(kb: KnowledgeBase, queries: list[str]) -> dict[str, Any]:
    """p50/p95 of SearchService.search per mode; vector/hybrid with a fresh query embedding each time
    (memo cleared) and with the embedding already memoised; plus the query embedding alone."""
    svc = SearchService(kb)
    out: dict[str, Any] = {}
    svc.search(SearchRequest(query="warm up", mode="hybrid"), PRINCIPAL)
    for mode in ("bm25", "vector", "hybrid"):
        for with_embed in (True, False) if mode != "bm25" else (False,):
            took, cpu = [], []
            for q in queries:
                if with_embed:
                    kb._query_cache.clear()
                else:
                    kb.embed_query(q)
                t, c = time.perf_counter(), time.process_time()
                resp = svc.search(SearchRequest(query=q, top_k=10, mode=mode), PRINCIPAL)
                took.append((time.perf_counter() - t) * 1000)
                cpu.append((time.process_time() - c) * 1000)
                assert all(
                    not h.doc_id.split("-r")[-1].isdigit() or int(h.doc_id.split("-r")[-1]) % 2 == 0
                    for h in resp.hits
                ), "a restricted document was returned"
            key = mode + ("+embed" if with_embed else "")
            out[key] = {**summary(took), "cpu_p50": round(pct(cpu, 50), 2), "cpu_p95": round(pct(cpu, 95), 2)}
            log.info("in-process %s: %s", key, out[key])
    emb = kb.embedder
    assert emb is not None
    took, cpu = [], []
    for q in queries:
        t, c = time.perf_counter(), time.process_time()
        emb.embed_queries([q])
        took.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    out["query_embedding_only"] = {**summary(took), "cpu_p50": round(pct(cpu, 50), 2)}
    return out


def _server_rss(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    vals = {line.split(":")[0]: line.split()[1] for line in status.splitlines() if line.startswith("Vm")}
    return {"peak_rss_mb": int(vals["VmHWM"]) / 1024, "rss_mb": int(vals["VmRSS"]) / 1024}


def start_server(home_name: str, port: int) -> subprocess.Popen:
    """uvicorn + create_app in a subprocess (one worker), waiting until /healthz answers."""
    import httpx

    cmd = [sys.executable, __file__, "--serve", home_name, "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("server did not start")


def serve(home_name: str, port: int) -> None:
    """The server side (run in a subprocess by :func:`start_server`)."""
    import uvicorn

    from search_api.app import create_app

    settings = bench_settings(home_name, embed=True, auth="on")
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def over_http(port: int, token: str, queries: list[str], clients: list[int], qps_requests: int) -> dict:
    """Sequential p50/p95 per mode (each request with a never-seen query text, so the server embeds it),
    then QPS with concurrent clients (bounded number of requests)."""
    import httpx

    url = f"http://127.0.0.1:{port}/v1/search"
    headers = {"Authorization": f"Bearer {token}"}
    out: dict[str, Any] = {}
    with httpx.Client(headers=headers, timeout=60) as c:
        # The first search loads the vectors from the store (slow at 100k chunks): generous timeout.
        t = time.perf_counter()
        r = c.post(url, json={"query": "warm up query", "mode": "hybrid", "top_k": 10}, timeout=900)
        out["first_request_s"] = round(time.perf_counter() - t, 1)
        r.raise_for_status()
        for i, mode in enumerate(("bm25", "vector", "hybrid")):
            took, server = [], []
            for q in queries:
                # Trailing spaces make the text new to the server's query-embedding memo without
                # changing its terms or its embedding input: every vector/hybrid request embeds.
                body = {"query": q + " " * (i + 1), "mode": mode, "top_k": 10}
                t = time.perf_counter()
                r = c.post(url, json=body)
                took.append((time.perf_counter() - t) * 1000)
                r.raise_for_status()
                server.append(float(r.json()["took_ms"]))
            out[mode] = {"client": summary(took), "server_took_ms": summary(server)}
            log.info("http %s: %s", mode, out[mode])
    out["qps"] = {}
    for mode in ("bm25", "hybrid"):
        for n in clients:
            out["qps"][f"{mode}x{n}"] = _qps(url, headers, queries, mode, n, qps_requests, salt=f"{mode}{n}")
            log.info("qps %s x%d: %s", mode, n, out["qps"][f"{mode}x{n}"])
    return out


def _qps(url: str, headers: dict, queries: list[str], mode: str, n: int, total: int, salt: str) -> dict:
    import httpx

    lock = threading.Lock()
    counter = iter(range(total))
    lat: list[float] = []
    errors = [0]

    def worker() -> None:
        with httpx.Client(headers=headers, timeout=60) as c:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                q = queries[i % len(queries)] + " " * (3 + len(salt) + i // len(queries))
                t = time.perf_counter()
                r = c.post(url, json={"query": q, "mode": mode, "top_k": 10})
                dt = (time.perf_counter() - t) * 1000
                with lock:
                    lat.append(dt)
                    if r.status_code != 200:
                        errors[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(n)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"qps": round(total / wall, 1), "requests": total, "errors": errors[0], **summary(lat)}


def ingest_throughput(n_plain: int, n_embed: int) -> dict[str, Any]:
    """docs/s of the real pipeline (jsonl records -> chunk -> [embed] -> store -> BM25 [+ vectors]) on the
    first SciFact documents, into throw-away knowledge bases."""
    import gzip

    from indexer.connectors.jsonl import record_to_document
    from indexer.pipeline import ingest_documents
    from kb.settings import Settings

    with gzip.open(corpus_path(DATASET_SPECS["scifact"]), "rt", encoding="utf-8") as fh:
        recs = [json.loads(line) for _, line in zip(range(max(n_plain, n_embed)), fh, strict=False)]
    out: dict[str, Any] = {}
    for label, n, embedder in (("without_embedding", n_plain, "none"), ("with_embedding", n_embed, "e5")):
        with tempfile.TemporaryDirectory() as tmp:
            kb = KnowledgeBase(Settings(home=Path(tmp), embedder=embedder, database_url=None))
            if kb.embedder is not None:
                kb.embedder.embed_passages(["warm up"])  # model load is not ingest throughput
            docs = [record_to_document(r) for r in recs[:n]]
            t = time.perf_counter()
            rep = ingest_documents(kb, "sample", [d for d in docs if isinstance(d, SourceDocument)])
            dt = time.perf_counter() - t
            out[label] = {
                "docs": n,
                "seconds": round(dt, 1),
                "docs_per_s": round(n / dt, 1),
                "embedded_chunks": rep.embedded_chunks,
            }
            log.info("ingest %s: %s", label, out[label])
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point: prints a JSON report and writes it under benchmarks/.cache/results/."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200, help="distinct queries per latency measurement")
    ap.add_argument("--clients", default="4,8")
    ap.add_argument("--qps-requests", type=int, default=200)
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--ingest-sample", default="1000,200", help="docs without,with embedding")
    ap.add_argument("--skip", default="", help="comma list of: inproc,http,ingest")
    ap.add_argument("--serve", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port)
        return 0
    setup_logging()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    skip = set(args.skip.split(","))
    report: dict[str, Any] = {
        "load_avg_start": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    spec = DATASET_SPECS["scifact"]
    allq = load_queries(spec)
    qids = list(load_qrels(spec, "test")) + list(load_qrels(spec, "train"))
    queries = [allq[q] for q in dict.fromkeys(qids)][: args.queries]

    t = time.perf_counter()
    kb, info = build_latency_kb(args.chunks, "multilingual-e5-small")
    report["corpus"] = info
    report["open_s"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    assert kb.vectors is not None
    report["vector_load_s"] = round(time.perf_counter() - t, 1)
    report["bm25_chunks"] = kb.bm25.num_chunks()
    report["vector_rows"] = len(kb.vectors)
    if "inproc" not in skip:
        report["in_process"] = in_process(kb, queries)
        report["in_process_peak_rss_mb"] = round(rss_mb(), 1)
    home_name = f"latency-{args.chunks}"
    if "http" not in skip:
        token = kb.tokens.create("bench", groups=["staff"])
        del kb
        proc = start_server(home_name, args.port)
        try:
            report["http"] = over_http(
                args.port, token, queries, [int(c) for c in args.clients.split(",")], args.qps_requests
            )
            report["server_memory"] = _server_rss(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    if "ingest" not in skip:
        n_plain, n_embed = (int(x) for x in args.ingest_sample.split(","))
        report["ingest"] = ingest_throughput(n_plain, n_embed)
    report["load_avg_end"] = os.getloadavg()
    text = json.dumps(report, indent=1)
    print(text)
    out = CACHE / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"latency-{args.chunks}-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
