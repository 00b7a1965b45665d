"""Crash safety: kill -9 a real ingest process mid-way, restart, and check nothing half-written is visible."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kb.engine import KnowledgeBase
from kb.models import Principal
from kb.search import SearchRequest, SearchService
from kb.settings import Settings

N_DOCS = 3000


def _write_source(path: Path) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(N_DOCS):
            rec = {
                "id": f"d{i}",
                "title": f"记录 {i}",
                "text": f"第{i}号 文档 关于 账户 冻结 流程 token{i} " * 30,
            }
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def _doc_count(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=30) as con:
            return con.execute("select count(*) from documents").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _start_ingest(home: Path, src: Path) -> subprocess.Popen:
    env = {**os.environ, "KB_HOME": str(home), "KB_EMBEDDER": "none"}
    code = "from search_api.cli import main; main()"
    args = [sys.executable, "-c", code, "ingest", str(src), "--library", "crash", "--json"]
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_kill_during_ingest_then_recover(tmp_path: Path) -> None:
    src = tmp_path / "src.jsonl"
    _write_source(src)
    home = tmp_path / "home"
    proc = _start_ingest(home, src)
    deadline = time.time() + 120
    while _doc_count(home / "kb.sqlite") < 300 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "ingest finished before it could be killed; make the source bigger"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    kb = KnowledgeBase(Settings(home=home, embedder="none"), embedder=None)
    committed = kb.store.count_documents()
    assert 0 < committed < N_DOCS
    with sqlite3.connect(home / "kb.sqlite") as con:
        orphans = con.execute(
            "select count(*) from documents d"
            " where not exists (select 1 from chunks c where c.document_id = d.id)"
        ).fetchone()[0]
        n_chunks = con.execute("select count(*) from chunks").fetchone()[0]
    assert orphans == 0  # no document without its chunks: each batch is one transaction
    kb.sync(force=True)  # the derived index catches up by itself
    assert kb.bm25.num_chunks() == n_chunks
    svc = SearchService(kb)
    last = committed - 1
    hit = svc.search(SearchRequest(query=f"token{last}", mode="bm25"), Principal("u"))
    assert [h.doc_id for h in hit.hits] == [f"d{last}"]

    proc = _start_ingest(home, src)  # finishing the run later works and skips what was committed
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-2000:]
    kb2 = KnowledgeBase(Settings(home=home, embedder="none"), embedder=None)
    kb2.sync(force=True)
    assert kb2.store.count_documents() == N_DOCS
    res = SearchService(kb2).search(SearchRequest(query=f"token{N_DOCS - 1}", mode="bm25"), Principal("u"))
    assert res.hits[0].doc_id == f"d{N_DOCS - 1}"
