"""Connectors on the sample corpora: ids, titles, tags, ACLs, encodings; bad input reported, not raised."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from indexer.connectors import detect_format, iter_source
from indexer.encoding import decode_bytes
from kb.errors import BadRequest, NotFound, UnsupportedInput
from kb.models import SkippedFile, SourceDocument

CORPORA = Path(__file__).resolve().parent.parent / "corpora"


def _split(items) -> tuple[dict[str, SourceDocument], list[SkippedFile]]:
    """Documents by id, and the skipped reports."""
    docs: dict[str, SourceDocument] = {}
    skipped: list[SkippedFile] = []
    for item in items:
        if isinstance(item, SkippedFile):
            skipped.append(item)
        else:
            assert item.doc_id not in docs, f"duplicate id {item.doc_id}"
            docs[item.doc_id] = item
    return docs, skipped


# --- markdown -----------------------------------------------------------------------------------------


def test_markdown_wiki_zh() -> None:
    docs, skipped = _split(iter_source(CORPORA / "wiki-zh"))
    assert not skipped
    assert 8 <= len(docs) <= 12
    loan = docs["信贷/贷款审批流程.md"]
    assert loan.title == "贷款审批流程"
    assert loan.tags == ["信贷", "审批", "个人贷款"]
    assert loan.acl == []
    assert loan.url == "https://wiki.bank.local/credit/loan-approval"
    assert loan.updated_at == datetime(2024, 3, 18, tzinfo=UTC)
    assert loan.text_format == "markdown"
    assert "## 二、尽职调查" in loan.text and not loan.text.startswith("---")


def test_markdown_front_matter_acl_and_tags() -> None:
    docs, _ = _split(iter_source(CORPORA / "wiki-zh", "markdown"))
    assert docs["合规/反洗钱规定.md"].acl == ["group:compliance", "group:risk-team"]
    assert docs["信贷/授信额度调整.md"].acl == ["user:alice"]
    assert docs["合规/员工行为守则.md"].acl == ["public"]
    assert docs["运营/信用卡挂失.md"].tags == ["信用卡", "挂失", "客服"]  # comma string
    assert docs["运营/開戶須知.md"].title == "個人帳戶開戶須知"


def test_markdown_title_fallbacks(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("intro\n\n# From Heading\n\ntext", encoding="utf-8")
    (tmp_path / "plain-note.md").write_text("no heading here", encoding="utf-8")
    docs, _ = _split(iter_source(tmp_path))
    assert docs["a.md"].title == "From Heading"
    assert docs["plain-note.md"].title == "plain-note"
    assert docs["plain-note.md"].updated_at is not None  # file mtime


def test_markdown_wiki_en_restricted_page() -> None:
    docs, skipped = _split(iter_source(CORPORA / "wiki-en"))
    assert not skipped and 6 <= len(docs) <= 10
    assert docs["policies/incident-response.md"].acl == ["group:security-team"]
    assert docs["it/password-reset.md"].title == "Password Reset"
    assert docs["it/password-reset.md"].tags == ["it", "password", "account"]


# --- html ---------------------------------------------------------------------------------------------


def test_html_structure_and_boilerplate_stripped() -> None:
    docs, skipped = _split(iter_source(CORPORA / "docs-html"))
    assert not skipped
    fx = docs["fx-rates-notice.html"]
    assert fx.title == "外汇牌价发布说明"
    assert fx.tags == ["外汇", "牌价", "国际业务"]
    assert fx.url == "https://intranet.bank.local/docs/fx-rates-notice"
    assert "## 牌价类型" in fx.text
    assert "- 现汇买入价：客户卖出外汇现汇时适用" in fx.text
    assert "  - 现钞买入价低于现汇买入价" in fx.text
    assert "美元 | USD | 1" in fx.text
    for chrome in ("首页", "版权所有", "analytics", "font-family", "相关链接", "JavaScript", "内网门户"):
        assert chrome not in fx.text
    wire = docs["wire-cutoff-times.html"]
    assert "processed on the next business day." in wire.text
    assert "Home" not in wire.text


def test_html_gbk_and_big5_decoded() -> None:
    docs, _ = _split(iter_source(CORPORA / "docs-html"))
    gbk = docs["cash-operations-gbk.html"]
    assert gbk.title == "网点现金业务操作规程"
    assert "发现假币的，应当面收缴" in gbk.text
    assert "尾箱限额 | 人民币20万元" in gbk.text
    assert "返回首页" not in gbk.text
    big5 = docs["safe-deposit-big5.html"]  # no <meta charset>: detected
    assert big5.title == "保險箱租用服務說明"
    assert "遺失鎖匙須即時通知分行" in big5.text
    assert "小型 | 1,200 | 3,000" in big5.text


def test_html_title_from_h1_and_bom(tmp_path: Path) -> None:
    (tmp_path / "p.htm").write_bytes(b"\xef\xbb\xbf<body><h1>\xe6\xa0\x87\xe9\xa2\x98</h1><p>x</p></body>")
    docs, _ = _split(iter_source(tmp_path))
    assert docs["p.htm"].title == "标题"


# --- jsonl --------------------------------------------------------------------------------------------


def test_jsonl_legacy() -> None:
    docs, skipped = _split(iter_source(CORPORA / "legacy" / "kb.jsonl"))
    assert not skipped and 10 <= len(docs) <= 20
    assert docs["KB-1002"].tags == ["借记卡", "限额", "转账"]
    assert docs["KB-1006"].acl == ["group:compliance", "group:risk-team"]
    assert docs["KB-1010"].acl == ["group:wealth-team", "user:alice"]
    assert docs["KB-1007"].metadata["owner"] == "运营管理部"  # "_id" accepted
    assert docs["KB-1003"].updated_at == datetime(2024, 1, 1, tzinfo=UTC)  # epoch seconds
    assert docs["KB-1009"].title == "個人網上銀行登入問題"


def test_jsonl_gz_beir_shape_keeps_id(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl.gz"
    rows = [
        {
            "_id": "4983",
            "title": "Microstructural development",
            "text": "Alterations of white matter.",
            "metadata": {},
        },
        {"_id": "5836", "title": "", "text": "Title-less abstract text."},
    ]
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    assert detect_format(path) == "jsonl"
    docs, skipped = _split(iter_source(path))
    assert not skipped
    assert list(docs) == ["4983", "5836"]
    assert docs["4983"].title == "Microstructural development"
    assert docs["5836"].text == "Title-less abstract text."


def test_jsonl_truncated_gzip_is_reported(tmp_path: Path) -> None:
    data = gzip.compress(b"".join(b'{"id": "%d", "text": "t"}\n' % i for i in range(2000)))
    (tmp_path / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    docs, skipped = _split(iter_source(tmp_path / "cut.jsonl.gz"))
    assert skipped and "cannot read" in skipped[-1].reason


def test_jsonl_record_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_text(
        json.dumps({"id": "big", "text": "x" * 5000}) + "\n" + json.dumps({"id": "ok", "text": "y"}) + "\n"
    )
    docs, skipped = _split(iter_source(path, max_file_bytes=1000))
    assert list(docs) == ["ok"]
    assert skipped[0].path.endswith("big.jsonl:1") and "too large" in skipped[0].reason


# --- csv ----------------------------------------------------------------------------------------------


def test_csv_defaults_and_lists() -> None:
    docs, skipped = _split(iter_source(CORPORA / "legacy" / "kb.csv"))
    assert not skipped and 10 <= len(docs) <= 20
    faq = docs["FAQ-001"]
    assert faq.title == "如何查询社保卡余额"  # "question" column
    assert faq.text.startswith("可通过手机银行")  # "answer" column
    assert faq.tags == ["社保卡", "查询"]
    assert faq.url == "https://kb.bank.local/faq/001"
    assert faq.metadata == {"category": "民生服务"}
    assert docs["FAQ-007"].acl == ["group:hr-team", "group:managers"]
    assert docs["FAQ-011"].acl == ["user:bob"]
    assert "CNY 20,000" in docs["FAQ-005"].text  # quoted field with commas


def test_csv_column_overrides_tsv_and_gbk(tmp_path: Path) -> None:
    path = tmp_path / "export.tsv"
    content = "编号\t标题\t内容\nA1\t开户\t个人开户需要身份证。\n"
    path.write_bytes(content.encode("gbk"))
    docs, skipped = _split(iter_source(path, id_col="编号", title_col="标题", text_col="内容"))
    assert not skipped
    assert docs["A1"].title == "开户" and docs["A1"].text == "个人开户需要身份证。"
    # Without the overrides no id column is found: the file is reported, not raised.
    _, skipped = _split(iter_source(path))
    assert len(skipped) == 1 and "no id column" in skipped[0].reason


# --- mediawiki ----------------------------------------------------------------------------------------


def test_mediawiki_latest_revision_templates_redirects() -> None:
    docs, skipped = _split(iter_source(CORPORA / "mediawiki" / "export.xml"))
    assert set(docs) == {"柜面业务授权制度", "远程授权中心", "Mortgage Rate Review", "ATM 故障处理"}
    reasons = {s.path.rsplit("#", 1)[1]: s.reason for s in skipped}
    assert reasons["Remote Authorization"] == "redirect"
    assert "template" in reasons["Template:制度信息框"]
    assert "talk" in reasons["Talk:Mortgage Rate Review"]

    page = docs["柜面业务授权制度"]
    assert "旧版本" not in page.text  # latest revision only
    assert page.metadata["revision_id"] == "1005"
    assert "{{" not in page.text and "YY-2024-03" not in page.text  # template dropped
    assert "依据《柜面业务操作规程》" not in page.text and "编者注" not in page.text  # ref, comment
    assert "须经营业主管或远程授权审核" in page.text  # link labels kept
    assert "## 授权范围" in page.text and "- 冲正及错账调整" in page.text
    assert "现金取款 | 5万元 | 50万元" in page.text
    assert "业务类型 | 柜员权限 | 主管权限" in page.text
    assert "制度库" in page.text and "https://" not in page.text
    assert page.tags == ["运营", "授权管理"]
    assert page.updated_at == datetime(2024, 2, 1, 10, 30, tzinfo=UTC)
    assert page.url and page.url.startswith("https://wiki.bank.local/index.php/")


def test_mediawiki_latest_by_timestamp_not_file_order() -> None:
    docs, _ = _split(iter_source(CORPORA / "mediawiki" / "export.xml"))
    remote = docs["远程授权中心"]  # newest revision comes first in the file
    assert "集中处理" in remote.text and "试运行" not in remote.text
    atm = docs["ATM 故障处理"]
    assert "__TOC__" not in atm.text and "严禁当场给付现金" not in atm.text


# --- bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["markdown", "html", "jsonl", "csv", "mediawiki"])
def test_broken_folder_never_raises(fmt: str) -> None:
    items = list(iter_source(CORPORA / "broken", fmt))
    assert any(isinstance(i, SkippedFile) for i in items)
    assert all(isinstance(i, (SourceDocument, SkippedFile)) for i in items)


def test_broken_reasons() -> None:
    reasons: dict[str, str] = {}
    for fmt in ("markdown", "html", "jsonl", "csv", "mediawiki"):
        for item in iter_source(CORPORA / "broken", fmt):
            if isinstance(item, SkippedFile):
                reasons[Path(item.path).name] = item.reason
    assert "binary" in reasons["screenshot.md"]
    assert reasons["empty.md"] == "empty file"
    assert "front matter" in reasons["bad-front-matter.md"]
    assert "undecodable" in reasons["mixed-encoding.html"]
    assert "malformed JSON" in reasons["records.jsonl:2"]
    assert "missing id" in reasons["records.jsonl:3"]
    assert "missing text" in reasons["records.jsonl:4"]
    assert "expected 3 fields" in reasons["faq-bad-row.csv:3"]
    assert "missing id" in reasons["faq-bad-row.csv:4"]
    assert "malformed XML" in reasons["bad-export.xml"]


def test_broken_folder_keeps_good_items() -> None:
    md, _ = _split(iter_source(CORPORA / "broken", "markdown"))
    assert list(md) == ["ok-page.md"]
    jl, _ = _split(iter_source(CORPORA / "broken", "jsonl"))
    assert list(jl) == ["R1", "R6"]
    xml, _ = _split(iter_source(CORPORA / "broken", "mediawiki"))
    assert list(xml) == ["完整页面"]  # pages before the syntax error are kept


def test_max_file_bytes_skips_large_files(tmp_path: Path) -> None:
    (tmp_path / "small.md").write_text("# S\n\nshort", encoding="utf-8")
    (tmp_path / "large.md").write_text("# L\n\n" + "很长的内容" * 500, encoding="utf-8")
    docs, skipped = _split(iter_source(tmp_path, max_file_bytes=1024))
    assert list(docs) == ["small.md"]
    assert skipped[0].path.endswith("large.md") and "too large" in skipped[0].reason


def test_errors_for_missing_path_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        iter_source(tmp_path / "nope")
    (tmp_path / "x.pdf").write_bytes(b"%PDF-1.4")
    with pytest.raises(BadRequest):
        iter_source(tmp_path / "x.pdf")
    with pytest.raises(BadRequest):
        iter_source(tmp_path, "docx")
    with pytest.raises(BadRequest):
        iter_source(tmp_path)  # folder with nothing readable


def test_folder_format_detection() -> None:
    assert detect_format(CORPORA / "wiki-zh") == "markdown"
    assert detect_format(CORPORA / "docs-html") == "html"
    assert detect_format(CORPORA / "legacy" / "kb.csv") == "csv"
    assert detect_format(CORPORA / "mediawiki") == "mediawiki"


def test_decode_bytes_order() -> None:
    zh = "反洗钱可疑交易报告"
    assert decode_bytes(zh.encode("gbk"), "gb2312")[0] == zh
    assert decode_bytes(zh.encode("utf-8"), "iso-8859-1")[0] == zh  # lying single-byte label
    assert decode_bytes(zh.encode("utf-16"))[0] == zh  # BOM
    with pytest.raises(UnsupportedInput):
        decode_bytes(b"abc\x00def")


def test_mediawiki_external_entities_not_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE", encoding="utf-8")
    xml = (
        f'<?xml version="1.0"?>\n<!DOCTYPE m [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
        "<mediawiki><page><title>P</title><ns>0</ns><revision><timestamp>2024-01-01T00:00:00Z"
        "</timestamp><text>before &xxe; after</text></revision></page></mediawiki>"
    )
    (tmp_path / "x.xml").write_text(xml, encoding="utf-8")
    items = list(iter_source(tmp_path / "x.xml"))
    assert all("TOP-SECRET-VALUE" not in getattr(i, "text", "") for i in items)
