"""Highlight latency for a 2 KB message with 10k terms: in-process and over HTTP (uvicorn + keep-alive httpx),
plus the matcher rebuild time for 100k terms and in-process latency while that rebuild runs.

    .venv/bin/python benchmarks/glossary_latency.py [--n 2000]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time

import httpx

from benchmarks.glossary_common import FIBO, chinese_terms, chinese_text, english_text, pct, service, tsv


def _message() -> str:
    """About 2 KB (UTF-8) of mixed Chinese and English text."""
    zh = chinese_text(400_000)[60_000:60_340]  # about 1 KB of UTF-8
    en = english_text(400_000)[100_000:110_000]
    msg = (zh + "\n" + en).encode()[:2048]
    return msg.decode("utf-8", "ignore")


def _timed(fn, n: int, clock=time.perf_counter) -> list[float]:  # noqa: ANN001
    """Milliseconds per call of ``fn`` by ``clock`` (``time.process_time``: CPU time of this process, which
    leaves out time spent waiting for a busy CPU)."""
    out = []
    for _ in range(n):
        t0 = clock()
        fn()
        out.append((clock() - t0) * 1000)
    return out


def _row(label: str, ms: list[float]) -> str:
    return f"| {label} | {len(ms)} | {pct(ms, 50):.3f} | {pct(ms, 95):.3f} | {pct(ms, 99):.3f} |"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_SERVER = """
import sys, uvicorn
from kb.engine import KnowledgeBase
from kb.settings import Settings
from search_api.app import build_services, create_app
settings = Settings(home=sys.argv[1], auth="off", embedder="none")
app = create_app(settings, build_services(settings, KnowledgeBase(settings, embedder=None)))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def _http(svc_home, n: int, msg: str) -> list[float]:  # noqa: ANN001
    """Latency over HTTP: the server runs in its own process (no GIL shared with this client)."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(svc_home), str(port)], stderr=subprocess.DEVNULL
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
            _wait_ready(c)
            body = {"text": msg, "format": "text"}
            for _ in range(100):
                c.post("/v1/glossary/highlight", json=body).raise_for_status()
            return _timed(lambda: c.post("/v1/glossary/highlight", json=body).raise_for_status(), n)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _wait_ready(c: httpx.Client) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            c.get("/healthz").raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def _rebuild(n_terms: int) -> tuple[float, list[float]]:
    """Seconds to build a matcher of ``n_terms`` entries, and highlight latencies measured meanwhile."""
    from glossary.matcher import Matcher, Surface, make_entry

    entries = [
        make_entry(str(i), f"term{i} x", [Surface(f"term{i} x"), Surface(f"t{i}")]) for i in range(n_terms)
    ]
    small = Matcher(entries[:10_000])
    msg = " ".join(f"term{i} x" for i in range(0, 10_000, 50))
    done = threading.Event()
    lat: list[float] = []

    def reader() -> None:
        while not done.is_set():
            t0 = time.perf_counter()
            small.find(msg)
            lat.append((time.perf_counter() - t0) * 1000)

    th = threading.Thread(target=reader)
    th.start()
    t0 = time.perf_counter()
    Matcher(entries)
    took = time.perf_counter() - t0
    done.set()
    th.join()
    return took, lat


def main() -> None:
    """Print the latency table and the rebuild figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    svc = service()
    svc.import_data(FIBO.read_bytes(), filename=FIBO.name)
    svc.import_data(tsv(chinese_terms(4_100)), fmt="tsv")
    n_terms = len(svc.dictionary_words())
    msg = _message()
    n_matches = len(svc.highlight(msg)["matches"])
    print(f"message: {len(msg.encode())} bytes, {n_matches} matches; {n_terms} surfaces")
    print(f"load average {os.getloadavg()}, {os.cpu_count()} CPUs")
    print("| path | n | p50 ms | p95 ms | p99 ms |\n|---|---:|---:|---:|---:|")
    for _ in range(200):
        svc.highlight(msg)
    print(_row("in-process service.highlight (text)", _timed(lambda: svc.highlight(msg), args.n)), flush=True)
    cpu = _timed(lambda: svc.highlight(msg), args.n, time.process_time)
    print(_row("in-process service.highlight (text), CPU time", cpu))
    print(_row("in-process service.highlight (html)", _timed(lambda: svc.highlight(msg, "html"), args.n)))
    print(_row("HTTP POST /v1/glossary/highlight", _http(svc.settings.home, args.n, msg)), flush=True)
    print(f"load average {os.getloadavg()}")
    took, lat = _rebuild(100_000)
    print(f"\nrebuild of a 100k-entry matcher (200k surfaces + plurals): {took:.2f} s")
    print(_row("highlight (10k terms, 200 matches) during that rebuild", lat))


if __name__ == "__main__":
    main()
