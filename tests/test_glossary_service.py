"""Glossary service on a throw-away SQLite store: CRUD, import/export, lookup, highlighting, hot reload."""

from __future__ import annotations

import gzip
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kb.errors import BadRequest, Conflict, NotFound, PayloadTooLarge

FIBO = Path(__file__).resolve().parents[2] / "shared/datasets/fibo-glossary-en/fibo_glossary.tsv.gz"


def _service(home: Path, **kw):
    import kb.auth  # noqa: F401 - the core's tables
    import kb.store  # noqa: F401
    from glossary.service import GlossaryService
    from kb.db import Database
    from kb.settings import Settings

    home.mkdir(parents=True, exist_ok=True)
    db = Database(f"sqlite:///{home / 'kb.sqlite'}")
    db.create_all()
    return GlossaryService(db, Settings(home=home), **kw)


@pytest.fixture
def g(tmp_path):
    svc = _service(tmp_path / "home")
    svc.create({"term": "贷款审查委员会", "aliases": ["贷审会"], "definition": "审批贷款的委员会。"})
    svc.create({"term": "民生银行", "definition": "一家银行"})
    svc.create({"term": "银行", "definition": "金融机构"})
    svc.create({"term": "APR", "aliases": ["annual percentage rate"], "definition": "Annual rate."})
    svc.create({"term": "credit card", "definition": "A card."})
    return svc


def _surfaces(res: dict) -> list[str]:
    return [m["surface"] for m in res["matches"]]


def _wellformed(html: str) -> ET.Element:
    return ET.fromstring(f"<root>{html}</root>")


# --- CRUD -------------------------------------------------------------------------------------------------
def test_crud_and_duplicates(g):
    rec = g.create({"term": "LPR", "definition": "Loan Prime Rate", "scope": ["risk"]})
    assert g.get(rec["id"])["scope"] == ["risk"]
    with pytest.raises(Conflict):
        g.create({"term": "ｌｐｒ", "definition": "dup", "scope": ["risk"]})
    g.create({"term": "LPR", "definition": "global one"})  # another scope is fine
    upd = g.update(rec["id"], {"aliases": ["贷款市场报价利率"]})
    assert upd["aliases"][0]["text"] == "贷款市场报价利率"
    g.delete(rec["id"])
    with pytest.raises(NotFound):
        g.get(rec["id"])
    with pytest.raises(NotFound):
        g.delete("nope")


def test_validation(g):
    with pytest.raises(BadRequest):
        g.create({"term": " ", "definition": "x"})
    with pytest.raises(BadRequest):
        g.create({"term": "X1", "definition": ""})  # approved needs a definition
    with pytest.raises(BadRequest):
        g.create({"term": "X2", "definition": "d", "status": "published"})
    with pytest.raises(BadRequest):
        g.create({"term": "X3", "definition": "d", "links": ["javascript:alert(1)"]})
    assert g.create({"term": "X4", "status": "draft"})["status"] == "draft"


def test_drafts_are_not_highlighted(g):
    rec = g.create({"term": "Widget", "status": "draft"})
    assert g.highlight("a widget")["matches"] == []
    g.update(rec["id"], {"status": "approved", "definition": "A thing."})
    assert _surfaces(g.highlight("a widget")) == ["widget"]


# --- highlight: text ----------------------------------------------------------------------------------------
def test_highlight_text_mixed(g):
    text = "民生銀行的貸審會：APR, April, credit cards 😀 ＡＰＲ"
    res = g.highlight(text)
    assert _surfaces(res) == ["民生銀行", "貸審會", "APR", "credit cards", "ＡＰＲ"]
    u16 = text.encode("utf-16-le")
    for m in res["matches"]:
        assert text[m["start"] : m["end"]] == m["surface"]
        assert u16[2 * m["start_utf16"] : 2 * m["end_utf16"]].decode("utf-16-le") == m["surface"]
    assert res["matches"][-1]["start_utf16"] == res["matches"][-1]["start"] + 1  # after one emoji
    assert "rendered" not in res


def test_empty_text_and_limits(g):
    assert g.highlight("")["matches"] == []
    assert g.highlight("", "html") == {"matches": [], "rendered": ""}
    with pytest.raises(PayloadTooLarge):
        g.highlight("银" * 400_000)
    with pytest.raises(BadRequest):
        g.highlight("x", "pdf")
    with pytest.raises(PayloadTooLarge):
        g.highlight_batch([{"text": "x"}] * 101)
    out = g.highlight_batch([{"text": "APR"}, {"text": "<b>APR</b>", "format": "html"}])
    assert out[1]["rendered"] == '<b><mark class="kb-term" data-term-id="4">APR</mark></b>'


# --- highlight: HTML ----------------------------------------------------------------------------------------
def test_html_only_text_nodes_change(g):
    src = (
        '<p title="APR 民生银行" data-x=\'credit card\'>APR and <a href="/APR">APR</a> <code>APR</code>'
        '<pre>民生银行</pre><span class="x no-glossary">APR<b>APR</b></span> x&amp;APR</p>'
        "<script>var s = 'APR'; if (a<b) {}</script><style>.APR{}</style>"
    )
    res = g.highlight(src, "html")
    out = res["rendered"]
    assert out.count("<mark") == 2
    assert 'title="APR 民生银行"' in out and 'data-x="credit card"' in out
    assert '<a href="/APR">APR</a>' in out and "<code>APR</code>" in out
    assert "<script>var s = 'APR'; if (a<b) {}</script>" in out
    for m in res["matches"]:  # offsets into the HTML source
        assert src[m["start"] : m["end"]] == m["surface"] == "APR"


def test_html_entities_offsets_into_source(g):
    src = "<p>AT&amp;T &lt;APR&gt; &#x41;PR</p>"
    res = g.highlight(src, "html")
    assert [m["surface"] for m in res["matches"]] == ["APR", "&#x41;PR"]
    assert "&lt;<mark" in res["rendered"] and "</mark>&gt;" in res["rendered"]


@pytest.mark.parametrize(
    "src",
    [
        "<p>APR <b>民生银行</p> <i>credit card",
        "<div><span>APR</div></span></p>",
        "<p>a < b APR > c & d</p>",
        '<img src="x" onerror="alert(1)">APR<br>',
        "<p>unterminated <!-- comment APR",
        '<a href="x>APR</a>',
        "<p/>APR<div/>",
        "&lt;script&gt;alert('APR')&lt;/script&gt;",
        '<p title="&quot;><script>alert(1)</script>">APR</p>',
        "<<p>>APR<</p>>",
    ],
)
def test_html_output_is_wellformed_and_escaped(g, src):
    out = g.highlight(src, "html")["rendered"]
    root = _wellformed(out)
    assert root.find(".//script") is None  # no input turns into a script element
    if "&lt;script" in src:
        assert "<script" not in out


def test_html_injection_through_term_data(g):
    g.create({"term": 'Evil"><script>', "definition": "<img src=x onerror=alert(1)>"})
    out = g.highlight("<p>Evil&quot;&gt;&lt;script&gt; here</p>", "html")["rendered"]
    _wellformed(out)
    assert "<script" not in out


# --- highlight: Markdown ------------------------------------------------------------------------------------
def test_markdown_code_and_links_untouched(g):
    md = (
        'APR in text, `APR` in code, [APR](https://x.test/APR "APR") and ![APR](apr.png).\n\n'
        "```\nAPR in a fence\n```\n\n    APR indented code\n\n"
        "<https://apr.test> https://apr.test/APR [ref]: https://x/APR\n"
        '<span title="APR">民生银行</span>'
    )
    res = g.highlight(md, "markdown")
    assert _surfaces(res) == ["APR", "民生银行"]
    out = res["rendered"]
    assert out.startswith('<mark class="kb-term" data-term-id="4">APR</mark> in text, `APR`')
    assert "```\nAPR in a fence\n```" in out and "    APR indented code" in out
    assert '[APR](https://x.test/APR "APR")' in out and '<span title="APR">' in out


# --- lookup -------------------------------------------------------------------------------------------------
def test_lookup_exact_prefix_fuzzy_width(g):
    assert g.lookup("ＡＰＲ")[0]["term"] == "APR"
    assert g.lookup("apr")[0]["match"] == "exact"
    assert g.lookup("贷审")[0]["term"] == "贷款审查委员会"  # prefix of an alias
    assert g.lookup("民生")[0]["match"] == "prefix"
    assert g.lookup("credti card")[0]["term"] == "credit card"  # typo
    assert g.lookup("annual percentge rate")[0]["term"] == "APR"
    with pytest.raises(BadRequest):
        g.lookup("  ")


# --- search hooks -------------------------------------------------------------------------------------------
def test_expand_query_and_cards(g):
    assert g.expand_query("贷审会的流程") == ["贷款审查委员会"]
    assert set(g.expand_query("贷款审查委员会")) == {"贷审会"}
    cards = g.cards_for_query("what is the apr of a credit card")
    assert [c["term"] for c in cards] == ["APR", "credit card"]
    assert cards[0]["definition"] == "Annual rate." and cards[0]["surface"] == "apr"
    assert g.expand_query("nothing here") == [] and g.cards_for_query("") == []


def test_dictionary_words_and_subscribe(g):
    assert {"贷款审查委员会", "贷审会", "民生银行"} <= set(g.dictionary_words())
    seen: list[list[str]] = []
    g.subscribe(seen.append)
    g.create({"term": "授信审批", "aliases": [{"text": "授审", "search": False}], "definition": "x"})
    assert seen == [["授信审批"]]


# --- hot reload ---------------------------------------------------------------------------------------------
def test_other_process_changes_visible_within_a_second(g, tmp_path):
    other = _service(tmp_path / "home", poll_seconds=0.2)
    assert _surfaces(other.highlight("a Widget")) == []
    g.create({"term": "widget", "definition": "A thing."})
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline and not other.highlight("a Widget")["matches"]:
        time.sleep(0.05)
    assert _surfaces(other.highlight("a Widget")) == ["Widget"]


def test_rebuild_does_not_block_highlighting(g, monkeypatch):
    """While a writer is stuck mid-rebuild, readers are served from the previous snapshot at once."""
    building, release = threading.Event(), threading.Event()
    real_build = g._build

    def slow_build(records):
        building.set()
        assert release.wait(30)
        return real_build(records)

    monkeypatch.setattr(g, "_build", slow_build)
    writer = threading.Thread(target=lambda: g.create({"term": "zeta", "definition": "x"}))
    writer.start()
    try:
        assert building.wait(30)
        done = []
        reader = threading.Thread(target=lambda: done.append(g.highlight("APR and zeta")))
        reader.start()
        reader.join(10)
        assert done, "a highlight request waited for the rebuild"
        assert _surfaces(done[0]) == ["APR"]  # the old snapshot: zeta is not in it yet
    finally:
        release.set()
        writer.join(30)
    assert _surfaces(g.highlight("APR and zeta")) == ["APR", "zeta"]


# --- import / export ----------------------------------------------------------------------------------------
def test_import_malformed_rows_reported_with_line_numbers(g):
    data = (
        "term,aliases,definition,status,scope\n"
        "Loan Prime Rate,LPR|贷款市场报价利率,The rate.,,\n"
        ",no term,def,,\n"
        "Bad Status,,def,published,\n"
        '"multi\nline",,"spans\ntwo lines",,\n'
        "too,many,fields,here,x,y\n"
        "APR,,dup of existing,,\n"
        "loan prime rate,,dup in file,,\n"
        "Draft Thing,,,draft,\n"
        "No Def,,,,\n"
    )
    rep = g.import_data(data.encode(), filename="x.csv")
    assert rep["imported"] == 3
    assert [(e["line"], e["error"][:12]) for e in rep["errors"]] == [
        (3, "term is requ"),
        (4, "status must "),
        (8, "expected 5 f"),  # the quoted record above spans lines 5-7
        (12, "an approved "),
    ]
    assert [(d["line"], d["duplicate_of"]) for d in rep["duplicates"]] == [(9, "4"), (10, "line 2")]
    assert _surfaces(g.highlight("the LPR and multi line")) == ["LPR", "multi line"]


def test_import_jsonl_and_bad_json(g):
    data = (
        '{"term": "净息差", "aliases": [{"text": "NIM", "highlight": false}], "definition": "x"}\n'
        "{not json}\n"
        '["a list"]\n'
        '{"name": "Tier 1 capital", "description": "core capital", "status": "approved"}\n'
    )
    rep = g.import_data(data, fmt="jsonl")
    assert rep["imported"] == 2 and [e["line"] for e in rep["errors"]] == [2, 3]
    assert _surfaces(g.highlight("NIM 净息差 tier 1 capital")) == ["净息差", "tier 1 capital"]


def test_import_whole_file_errors(g):
    with pytest.raises(BadRequest):
        g.import_data(b"foo,bar\n1,2\n", fmt="csv")  # no term column
    with pytest.raises(BadRequest):
        g.import_data(b"", fmt="csv")
    from kb.errors import UnsupportedInput

    with pytest.raises(UnsupportedInput):
        g.import_data(b"\x00\x01binary", fmt="csv")
    rep = g.import_data("术语,定义\n存款准备金率,银行存款的准备金比例\n".encode("gb18030"))
    assert rep["imported"] == 1


@pytest.mark.skipif(not FIBO.exists(), reason="shared dataset not present")
def test_fibo_glossary_imports(tmp_path):
    svc = _service(tmp_path / "fibo")
    rep = svc.import_data(FIBO.read_bytes(), filename=FIBO.name)
    assert rep["errors"] == []
    assert rep["imported"] + len(rep["duplicates"]) == 6006
    assert rep["imported"] > 5900 and rep["ignored_columns"] == ["module"]
    lc = svc.lookup("letter of credit")[0]
    assert lc["term"] == "letter of credit"
    res = svc.highlight("The L/C was issued under a letter of credit.")
    assert {m["term"] for m in res["matches"]} >= {"letter of credit"}


def test_export_roundtrip(g, tmp_path):
    for fmt in ("csv", "tsv", "jsonl"):
        dump = g.export(fmt)
        fresh = _service(tmp_path / f"rt-{fmt}")
        rep = fresh.import_data(dump.encode(), fmt=fmt)
        assert rep["imported"] == 5 and not rep["errors"], rep
        assert fresh.expand_query("贷审会") == ["贷款审查委员会"]
    gz = gzip.compress(g.export("tsv").encode())
    assert _service(tmp_path / "gz").import_data(gz, filename="g.tsv.gz")["imported"] == 5
