"""The fast matcher paths agree with a brute-force reference of the matching rules.

Reference: on the normalised text, at each position take the longest key whose first (last) word character
has no word character before (after) it, then continue after it; else move on by one character.
"""

from __future__ import annotations

import random

import pytest

import glossary.matcher as gm
from glossary.boundaries import mark_many, mark_words
from glossary.matcher import Matcher, Surface, is_word_char, make_entry
from glossary.normalize import has_astral, normalize, normalize_term

_ALPHABET = ["a", "b", "1", " ", "-", "银", "行", "A", "é", "😀", "Ｂ", "\U000e0061", "ß"]
_KEYS = ["a", "ab", "b a", "ba", "1", "a1", "银行", "行", "b-", "-a", "é", "😀b", "ab ba", "ss"]


def _reference(keys: set[str], norm: str) -> list[tuple[int, int, str]]:
    out, i, n = [], 0, len(norm)
    while i < n:
        hit = None
        for end in range(n, i, -1):
            k = norm[i:end]
            if k not in keys:
                continue
            if is_word_char(k[0]) and i and is_word_char(norm[i - 1]):
                continue
            if is_word_char(k[-1]) and end < n and is_word_char(norm[end]):
                continue
            hit = (i, end, k)
            break
        if hit:
            out.append(hit)
            i = hit[1]
        else:
            i += 1
    return out


def _matchers(keys: list[str], fast: bool) -> Matcher:
    entries = [make_entry(str(i), k, [Surface(k)], inflect=False) for i, k in enumerate(keys)]
    return Matcher(entries, fast=fast)


@pytest.mark.parametrize("fast", [False, True])
def test_random_texts_match_the_reference(fast: bool):
    rnd = random.Random(7)
    keys = [normalize_term(k) for k in _KEYS]
    m = _matchers(_KEYS, fast)
    for _ in range(3000):
        text = "".join(rnd.choice(_ALPHABET) for _ in range(rnd.randint(0, 14)))
        norm, omap = normalize(text)
        if omap is not None:  # expansions are covered by the offset tests
            continue
        want = [(s, e) for s, e, _ in _reference(set(keys), norm)]
        got = [(s, e) for s, e, _ in m.find(text)]
        assert got == want, (text, got, want)


def test_fast_and_exact_paths_agree_with_scopes():
    entries = [
        make_entry("1", "bank", [Surface("bank")]),
        make_entry("2", "bank rate", [Surface("bank rate")], scope=["treasury"]),
        make_entry("3", "rate", [Surface("rate")]),
    ]
    fast, exact = Matcher(entries, fast=True), Matcher(entries, fast=False)
    text = "The Bank Rate and bank rates; banking rate."
    for scope in (None, ["treasury"], ["other"]):
        assert fast.find(text, scope) == exact.find(text, scope)
    assert [text[s:e] for s, e, _ in fast.find(text, ["treasury"])] == ["Bank Rate", "bank rates", "rate"]
    assert [text[s:e] for s, e, _ in fast.find(text)] == ["Bank", "Rate", "bank", "rates", "rate"]


def test_marking_is_length_preserving_and_neutralises_private_planes():
    text = "Abc d\U000e0061\U00100000\ud800 中x1 😀"
    marked = mark_words(text)
    assert len(marked) == len(text)
    planes = [ord(c) >> 16 for c in marked[:5]]
    assert planes == [4, 0, 8, 0, 12]  # first, inside, last, space, one-letter word
    assert marked[5] == marked[6] == marked[7] == "\ufffd"
    assert marked[9] == "中" and marked[-1] == "😀"
    assert mark_many(["ab", "x1"]) == [mark_words("ab"), mark_words("x1")]


def test_has_astral():
    assert not has_astral("") and not has_astral("abc") and not has_astral("中文é")
    assert has_astral("a😀") and has_astral("中" * 100 + "\U00020000")


@pytest.mark.skipif(gm.ahocorasick_rs is None, reason="ahocorasick_rs not installed")
def test_fast_path_is_used_when_available():
    m = _matchers(["bank"], fast=True)
    assert m._fast is not None and m._automaton is None  # no scoped entries: one automaton only
