"""Snippets: which occurrences are marked, and that the result is HTML-safe."""

from __future__ import annotations

from kb.snippets import compile_terms, make_snippet


def test_latin_terms_mark_whole_words_they_start() -> None:
    """A stem marks the words it starts ("studi" -> "studies"), never a word it only occurs inside."""
    out = make_snippet("Prior studies of restudied data; Studies help.", ["studi"])
    assert out == "Prior <mark>studies</mark> of restudied data; <mark>Studies</mark> help."


def test_cjk_terms_match_anywhere_and_traditional_folds() -> None:
    """Chinese terms match inside runs; a Simplified term marks the Traditional original."""
    out = make_snippet("請問信用卡額度如何調整？", ["信用卡", "调整"])
    assert out == "請問<mark>信用卡</mark>額度如何<mark>調整</mark>？"


def test_overlaps_keep_the_leftmost_longest() -> None:
    """Overlapping terms give one mark: the leftmost, longest span."""
    assert make_snippet("跨境支付服务", ["跨境支付", "支付服务"]) == "<mark>跨境支付</mark>服务"
    assert make_snippet("interest rates", ["interes", "interest"]) == "<mark>interest</mark> rates"


def test_html_is_escaped_inside_and_outside_marks() -> None:
    """Document text never reaches the page as markup."""
    out = make_snippet("<b>fee</b> & <script>x</script>", ["fee", "script"])
    assert "<b>" not in out and "<script>" not in out
    assert "<mark>fee</mark>" in out and "&amp;" in out


def test_window_is_centred_on_the_densest_cluster() -> None:
    """A long text is cut around where the terms are, with ellipses at the cut ends."""
    text = "filler " * 100 + "loan rate loan rate " + "filler " * 100
    out = make_snippet(text, compile_terms(["loan", "rate"]), width=80)
    assert out.startswith("…") and out.endswith("…")
    assert out.count("<mark>") == 4
