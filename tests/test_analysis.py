"""The analyzer: Chinese segmentation, script folding, width/case, mixed text, user dictionary."""

from __future__ import annotations

import pytest

from kb.analysis import Analyzer, normalize, normalize_with_map


@pytest.fixture(scope="module")
def an() -> Analyzer:
    return Analyzer()


def test_chinese_is_segmented_not_split_on_spaces(an: Analyzer) -> None:
    toks = an.tokens("反洗钱法规定客户身份识别")
    assert "反洗钱" in toks and "客户" in toks
    assert "反洗钱法规定客户身份识别" not in toks


def test_search_mode_emits_subwords(an: Analyzer) -> None:
    toks = an.tokens("中华人民共和国")
    assert "中华人民共和国" in toks and "共和国" in toks


def test_traditional_and_simplified_give_the_same_terms(an: Analyzer) -> None:
    assert an.tokens("貸款審查委員會") == an.tokens("贷款审查委员会")


def test_full_width_and_case_fold(an: Analyzer) -> None:
    assert an.tokens("ＶＰＮ　Ｓｅｔｕｐ") == an.tokens("vpn setup")
    assert normalize("ＡＢＣ１２３") == "abc123"


def test_mixed_text_keeps_latin_words_and_numbers_whole(an: Analyzer) -> None:
    toks = an.tokens("VPN使用指南v2.0，端口443")
    assert "vpn" in toks and "443" in toks and "v2.0" in toks
    assert "使用" in toks and "指南" in toks


def test_english_stemming_and_stopwords(an: Analyzer) -> None:
    assert an.tokens("the studies of cells") == an.tokens("study cell")


def test_user_dictionary_keeps_a_term_whole() -> None:
    a = Analyzer()
    assert "贷款审查委员会" not in a.tokens("提交贷款审查委员会讨论")
    a.add_words(["貸款審查委員會"])  # added in Traditional, matched in Simplified
    toks = a.tokens("提交贷款审查委员会讨论")
    assert "贷款审查委员会" in toks and "贷款" in toks  # search mode still yields the parts


def test_normalize_with_map_points_back_to_original() -> None:
    text = "ＡＰＲ貸款ß"
    norm, offsets = normalize_with_map(text)
    assert norm == "apr贷款ss"
    assert [text[o] for o in offsets] == ["Ａ", "Ｐ", "Ｒ", "貸", "款", "ß", "ß"]


def test_empty_and_punctuation_only(an: Analyzer) -> None:
    assert an.tokens("") == []
    assert an.tokens("，。！？ ...") == []
