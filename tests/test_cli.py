"""The `kb` CLI in a real subprocess: ingest report, incremental re-run, search --json and --as, tokens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CORPORA


def kb_cli(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "KB_HOME": str(home), "KB_EMBEDDER": "none"}
    code = "from search_api.cli import main; main()"
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=300
    )
    if check:
        assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    h = tmp_path_factory.mktemp("cli") / "home"
    kb_cli(h, "ingest", str(CORPORA / "wiki-zh"), "--library", "wiki-zh")
    return h


def test_ingest_prints_summary_and_skips(tmp_path: Path) -> None:
    out = kb_cli(
        tmp_path / "h", "ingest", str(CORPORA / "broken"), "--library", "junk", "--format", "markdown"
    )
    assert "skipped=" in out.stdout.splitlines()[-1]
    assert "skipped:" in out.stderr


def test_reingest_reports_unchanged(home: Path) -> None:
    out = kb_cli(home, "ingest", str(CORPORA / "wiki-zh"), "--library", "wiki-zh", "--json")
    rep = json.loads(out.stdout)
    assert rep["ingested"] == 0 and rep["unchanged"] >= 8


def test_search_json_and_acl_as_user(home: Path) -> None:
    out = json.loads(kb_cli(home, "search", "反洗钱", "--json", "--mode", "bm25").stdout)
    assert any("反洗钱" in h["title"] for h in out["hits"])  # the local operator sees everything
    out = json.loads(kb_cli(home, "search", "反洗钱", "--json", "--mode", "bm25", "--as", "bob").stdout)
    assert not any("反洗钱" in h["title"] for h in out["hits"])
    kb_cli(home, "token", "create", "--user", "carol", "--groups", "risk-team")
    out = json.loads(kb_cli(home, "search", "反洗钱", "--json", "--mode", "bm25", "--as", "carol").stdout)
    assert any("反洗钱" in h["title"] for h in out["hits"])


def test_token_is_last_word(home: Path) -> None:
    out = kb_cli(home, "token", "create", "--user", "dave", "--admin").stdout.split()
    assert out[-1].startswith("kb_") and len(out[-1]) > 30


def test_errors_exit_2_with_message(home: Path) -> None:
    p = kb_cli(home, "search", "x", "--library", "missing", check=False)
    assert p.returncode == 2 and "unknown library" in p.stderr
    p = kb_cli(home, "ingest", "/nonexistent/path", "--library", "x", check=False)
    assert p.returncode == 2 and "error" in p.stderr.lower()
    p = kb_cli(home, "delete", "wiki-zh", "nope.md", check=False)
    assert p.returncode == 2
