"""Matcher and normalisation: Chinese/English/mixed, nesting, boundaries, case/width, Trad/Simp, offsets."""

from __future__ import annotations

import time

import pytest

from glossary.matcher import Matcher, Surface, inflections, make_entry
from glossary.normalize import Utf16Index, normalize, normalize_term


def _matcher(*terms: str | tuple[str, list[str]], scope: dict[str, list[str]] | None = None) -> Matcher:
    entries = []
    for i, t in enumerate(terms):
        term, aliases = (t, []) if isinstance(t, str) else t
        surfaces = [Surface(term)] + [Surface(a) for a in aliases]
        entries.append(make_entry(str(i), term, surfaces, (scope or {}).get(term)))
    return Matcher(entries)


def _found(m: Matcher, text: str, scope=None) -> list[str]:
    return [text[s:e] for s, e, _ in m.find(text, scope)]


def _terms(m: Matcher, text: str) -> list[str]:
    return [m.entries[i].term for _, _, i in m.find(text)]


def test_chinese_longest_wins_anywhere_in_a_run():
    m = _matcher("银行", "民生银行", "贷款审查委员会", "委员会")
    text = "中国民生银行的贷款审查委员会和其他银行"
    assert _found(m, text) == ["民生银行", "贷款审查委员会", "银行"]


def test_english_word_boundaries_and_case():
    m = _matcher("APR", "rate", "interest rate")
    text = "APRIL: the apr and Interest Rate (corporate rates separate) - rate."
    assert _found(m, text) == ["apr", "Interest Rate", "rates", "rate"]


def test_digits_are_word_characters():
    m = _matcher("APR")
    assert _found(m, "APR2024 2APR APR-2024 (APR)") == ["APR", "APR"]


def test_mixed_text_latin_term_next_to_chinese():
    m = _matcher("LPR", "贷款市场报价利率", "KYC流程")
    text = "一年期LPR下调，KYC流程按贷款市场报价利率执行"
    assert _found(m, text) == ["LPR", "KYC流程", "贷款市场报价利率"]


def test_overlapping_terms_leftmost_then_longest():
    m = _matcher("credit card", "card fee", "credit", "card")
    # leftmost wins ("credit card" starts before "card fee"); nothing overlapping it is kept
    assert _found(m, "credit card fee") == ["credit card"]
    assert _found(m, "a card fee") == ["card fee"]


def test_nested_terms_prefer_outer_span():
    m = _matcher("letter of credit", "credit", "letter")
    assert _found(m, "A letter of credit, a letter, credit.") == ["letter of credit", "letter", "credit"]


def test_fallback_to_shorter_term_when_longer_fails_boundary():
    m = _matcher("credit", "credit card")
    assert _found(m, "credit cardholder") == ["credit"]


def test_width_and_case_insensitive():
    m = _matcher("APR", "Visa")
    assert _found(m, "ＡＰＲ ａｐｒ VISA vIsA") == ["ＡＰＲ", "ａｐｒ", "VISA", "vIsA"]


def test_traditional_and_simplified_match_each_other():
    m = _matcher("贷款审查委员会", "銀行業監督管理")
    text = "貸款審查委員會依银行业监督管理规定"
    assert _terms(m, text) == ["贷款审查委员会", "銀行業監督管理"]


def test_plurals_and_inflections():
    assert inflections("policy") == ["policies"]
    assert inflections("tax") == ["taxes"]
    assert inflections("credit card") == ["credit cards"]
    m = _matcher("policy", "tax", "bond")
    assert _found(m, "policies, taxes and bonds; bondss") == ["policies", "taxes", "bonds"]


def test_exact_term_beats_inflected_variant_of_another():
    m = _matcher("bond", "bonds")
    assert _terms(m, "bonds") == ["bonds"]


def test_offsets_in_code_points_and_utf16_with_emoji():
    m = _matcher("民生银行", "APR")
    text = "😀🎉 民生銀行 APR 👍🏽 APR"
    u16 = Utf16Index(text)
    encoded = text.encode("utf-16-le")
    for s, e, _ in m.find(text):
        assert text[s:e] in ("民生銀行", "APR")
        a, b = u16(s), u16(e)
        assert encoded[2 * a : 2 * b].decode("utf-16-le") == text[s:e]
    assert len(m.find(text)) == 3


def test_offsets_exact_when_normalisation_expands():
    m = _matcher("fix", "strasse", "apr")
    text = "ﬁx Straße ① APR"
    assert _found(m, text) == ["ﬁx", "Straße", "APR"]


def test_term_wrapped_across_lines():
    m = _matcher("letter of credit")
    assert _found(m, "a letter of\ncredit") == ["letter of\ncredit"]


def test_scoped_terms_only_in_scope():
    m = _matcher("ABS", "LTV", scope={"LTV": ["mortgage"]})
    assert _found(m, "ABS LTV") == ["ABS"]
    assert _found(m, "ABS LTV", scope={"mortgage"}) == ["ABS", "LTV"]


def test_query_matching_finds_search_only_aliases():
    e = make_entry("1", "贷款审查委员会", [Surface("贷款审查委员会"), Surface("贷审会", highlight=False)])
    m = Matcher([e])
    assert m.find("贷审会") == []
    assert [i for _, _, i in m.find_in_query("什么是贷审会")] == [0]


def test_empty_and_no_terms():
    assert Matcher([]).find("anything") == []
    assert _matcher("x1").find("") == []


def test_normalize_is_consistent_for_terms_and_text():
    assert normalize_term("  民生銀行  ") == "民生银行"
    assert normalize_term("ＡＰＲ\tRate") == "apr rate"
    assert normalize("ABC")[1] is None


@pytest.mark.timeout(60)
def test_rebuild_100k_terms_is_fast():
    entries = [make_entry(str(i), f"term{i} word", [Surface(f"term{i} word")]) for i in range(100_000)]
    t0 = time.perf_counter()
    m = Matcher(entries)
    took = time.perf_counter() - t0
    assert _found(m, "see term99999 word") == ["term99999 word"]
    # The budget is 2 s; allow headroom for a loaded CI machine (benchmarks record the real figure).
    assert took < 4.0
