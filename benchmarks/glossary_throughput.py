"""Highlight throughput (MB/s of UTF-8 input, matches with code-point and UTF-16 offsets) vs raw pyahocorasick
and flashtext on the same input, in the same run.

    .venv/bin/python benchmarks/glossary_throughput.py [--mb 10]

English: 10 MB of finance English with the FIBO glossary (6,006 rows, labels + synonyms + abbreviations).
Chinese: 10 MB of the zh-laws corpus with the 10k most frequent words of that corpus as terms.
"""

from __future__ import annotations

import argparse
import time

import ahocorasick
from flashtext import KeywordProcessor

from benchmarks.glossary_common import FIBO, chinese_terms, chinese_text, chunks, english_text, service, tsv


def _raw_pyahocorasick(surfaces: list[str], docs: list[str]) -> tuple[float, int]:
    """Case-folded AC over lower-cased text, all (start, end, value) matches, no boundary or overlap logic."""
    a = ahocorasick.Automaton()
    for s in surfaces:
        k = s.lower()
        a.add_word(k, (len(k), s))
    a.make_automaton()
    t0 = time.perf_counter()
    n = 0
    for d in docs:
        n += len([(end - v[0] + 1, end + 1, v[1]) for end, v in a.iter(d.lower())])
    return time.perf_counter() - t0, n


def _flashtext(surfaces: list[str], docs: list[str]) -> tuple[float, int]:
    kp = KeywordProcessor(case_sensitive=False)
    for s in surfaces:
        kp.add_keyword(s)
    t0 = time.perf_counter()
    n = sum(len(kp.extract_keywords(d, span_info=True)) for d in docs)
    return time.perf_counter() - t0, n


def _ours(svc, docs: list[str]) -> tuple[float, int]:  # noqa: ANN001
    t0 = time.perf_counter()
    n = sum(len(svc.highlight(d)["matches"]) for d in docs)
    return time.perf_counter() - t0, n


def run(name: str, svc, surfaces: list[str], text: str) -> list[str]:  # noqa: ANN001
    """One corpus: our service, raw pyahocorasick, flashtext; returns Markdown table rows."""
    docs = chunks(text)
    mb = len(text.encode()) / 1e6
    svc.highlight(docs[0])  # warm-up: fold table, caches
    rows = []
    for label, fn in (
        ("glossary (service.highlight, text)", lambda: _ours(svc, docs)),
        ("raw pyahocorasick (iter, no rules)", lambda: _raw_pyahocorasick(surfaces, docs)),
        ("flashtext (extract_keywords, spans)", lambda: _flashtext(surfaces, docs)),
    ):
        took, n = min((fn() for _ in range(2)), key=lambda r: r[0])
        rows.append(f"| {name} | {label} | {mb:.1f} | {took:.2f} | {mb / took:.1f} | {n:,} |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    """Run both corpora and print a Markdown table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=10.0)
    args = ap.parse_args()
    size = int(args.mb * 1e6)
    print("| corpus | matcher | MB | seconds | MB/s | matches |\n|---|---|---:|---:|---:|---:|")
    en = service()
    rep = en.import_data(FIBO.read_bytes(), filename=FIBO.name)
    surfaces = [w for w in en.dictionary_words()]
    run(f"English, FIBO ({rep['imported']} entries)", en, surfaces, english_text(size))
    terms = chinese_terms(10_000)
    zh = service()
    zh.import_data(tsv(terms), fmt="tsv")
    run(f"Chinese laws, {len(terms):,} terms", zh, terms, chinese_text(size))


if __name__ == "__main__":
    main()
