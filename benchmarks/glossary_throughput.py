"""Highlight throughput (MB/s of UTF-8 input, matches with code-point and UTF-16 offsets) vs raw pyahocorasick
and flashtext on the same input, in the same run.

    .venv/bin/python -m benchmarks.glossary_throughput [--mb 10] [--repeat 3] [--exact]

English: 10 MB of finance English with the FIBO glossary (6,006 rows, labels + synonyms + abbreviations).
Chinese: 10 MB of the zh-laws corpus with the 10k most frequent words of that corpus as terms.

Times are CPU seconds of this process (``time.process_time``), the best of ``--repeat`` runs, so that other
jobs on a shared machine distort them as little as possible; the load average is printed with the table.
``--exact`` forces the pure-pyahocorasick matcher path even where ``ahocorasick_rs`` is installed.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import ahocorasick
from flashtext import KeywordProcessor

from benchmarks.glossary_common import FIBO, chinese_terms, chinese_text, chunks, english_text, service, tsv

try:
    import ahocorasick_rs
except ImportError:  # optional
    ahocorasick_rs = None


def _automaton(surfaces: list[str]) -> ahocorasick.Automaton:
    a = ahocorasick.Automaton()
    for s in surfaces:
        k = s.lower()
        a.add_word(k, (len(k), s))
    a.make_automaton()
    return a


def _raw_iter(a: ahocorasick.Automaton, docs: list[str]) -> int:
    """All occurrences (overlapping), each as (start, end, surface): no boundaries, no selection."""
    return sum(len([(end - v[0] + 1, end + 1, v[1]) for end, v in a.iter(d.lower())]) for d in docs)


def _raw_iter_long(a: ahocorasick.Automaton, docs: list[str]) -> int:
    """pyahocorasick's own longest non-overlapping iterator (it misses some matches, see the results)."""
    return sum(len([(end - v[0] + 1, end + 1, v[1]) for end, v in a.iter_long(d.lower())]) for d in docs)


def _rs(surfaces: list[str]) -> Callable[[list[str]], int]:
    ac = ahocorasick_rs.AhoCorasick(
        list({s.lower() for s in surfaces}), matchkind=ahocorasick_rs.MatchKind.LeftmostLongest
    )
    return lambda docs: sum(len(ac.find_matches_as_indexes(d.lower())) for d in docs)


def _flashtext(surfaces: list[str]) -> Callable[[list[str]], int]:
    kp = KeywordProcessor(case_sensitive=False)
    for s in surfaces:
        kp.add_keyword(s)
    return lambda docs: sum(len(kp.extract_keywords(d, span_info=True)) for d in docs)


def _ours(svc, docs: list[str]) -> int:  # noqa: ANN001
    """End to end: match dicts with code-point and UTF-16 offsets, term id, term and surface."""
    return sum(len(svc.highlight(d)["matches"]) for d in docs)


def _best(fn: Callable[[], int], repeat: int) -> tuple[float, int]:
    out = []
    for _ in range(repeat):
        t0 = time.process_time()
        n = fn()
        out.append((time.process_time() - t0, n))
    return min(out)


def run(name: str, svc, surfaces: list[str], text: str, repeat: int) -> None:  # noqa: ANN001
    """One corpus: our service and matcher, raw pyahocorasick (+ ahocorasick_rs), flashtext."""
    docs = chunks(text)
    mb = len(text.encode()) / 1e6
    svc.highlight(docs[0])  # warm-up: fold table, caches
    matcher = svc.snapshot().matcher
    a = _automaton(surfaces)
    cases: list[tuple[str, Callable[[], int]]] = [
        ("glossary service.highlight (text, dicts)", lambda: _ours(svc, docs)),
        ("glossary Matcher.find (spans only)", lambda: sum(len(matcher.find(d)) for d in docs)),
        ("raw pyahocorasick iter (lower, overlapping)", lambda: _raw_iter(a, docs)),
        ("raw pyahocorasick iter_long (lower)", lambda: _raw_iter_long(a, docs)),
    ]
    if ahocorasick_rs is not None:
        rs = _rs(surfaces)
        cases.append(("raw ahocorasick_rs leftmost-longest (lower)", lambda: rs(docs)))
    ft = _flashtext(surfaces)
    cases.append(("flashtext extract_keywords (spans)", lambda: ft(docs)))
    for label, fn in cases:
        took, n = _best(fn, repeat)
        print(f"| {name} | {label} | {mb:.1f} | {took:.3f} | {mb / took:.1f} | {n:,} |", flush=True)


def main() -> None:
    """Run both corpora and print a Markdown table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--exact", action="store_true", help="pure-pyahocorasick matcher path")
    args = ap.parse_args()
    if args.exact:
        import glossary.matcher

        glossary.matcher.ahocorasick_rs = None
    import glossary.matcher as gm

    size = int(args.mb * 1e6)
    fast = getattr(gm, "ahocorasick_rs", None) is not None
    backend = "ahocorasick_rs + pyahocorasick" if fast else "pyahocorasick only"
    print(f"load average {os.getloadavg()}, {os.cpu_count()} CPUs; matcher backend: {backend}")
    print("| corpus | matcher | MB | CPU s | MB/s | matches |\n|---|---|---:|---:|---:|---:|")
    en = service()
    rep = en.import_data(FIBO.read_bytes(), filename=FIBO.name)
    surfaces = list(en.dictionary_words())
    run(f"English, FIBO ({rep['imported']} entries)", en, surfaces, english_text(size), args.repeat)
    terms = chinese_terms(10_000)
    zh = service()
    zh.import_data(tsv(terms), fmt="tsv")
    run(f"Chinese laws, {len(terms):,} terms", zh, terms, chinese_text(size), args.repeat)
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
