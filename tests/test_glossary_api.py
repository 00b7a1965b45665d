"""Glossary over HTTP: auth (admin writes, everyone reads), limits, highlight, lookup, import/export, and the
search integration (alias query finds the main term's document; the response carries definition cards)."""

from __future__ import annotations

from tests.conftest import auth

TERMS = "/v1/glossary/terms"


def _create(client, tokens, **body):
    r = client.post(TERMS, json=body, headers=auth(tokens["admin"]))
    assert r.status_code == 201, r.text
    return r.json()


def test_auth_admin_writes_everyone_reads(client, tokens):
    body = {"term": "LPR", "aliases": ["贷款市场报价利率"], "definition": "Loan Prime Rate"}
    assert client.post(TERMS, json=body).status_code == 401
    assert client.post(TERMS, json=body, headers=auth("kb_wrong")).status_code == 401
    assert client.post(TERMS, json=body, headers=auth(tokens["bob"])).status_code == 403
    rec = _create(client, tokens, **body)
    assert rec["owner"] == "root"
    for who in ("alice", "bob"):
        r = client.get(f"{TERMS}/{rec['id']}", headers=auth(tokens[who]))
        assert r.status_code == 200 and r.json()["term"] == "LPR"
    assert client.get(TERMS).status_code == 401
    assert client.delete(f"{TERMS}/{rec['id']}", headers=auth(tokens["bob"])).status_code == 403
    r = client.patch(f"{TERMS}/{rec['id']}", json={"category": "rates"}, headers=auth(tokens["admin"]))
    assert r.json()["category"] == "rates"
    listing = client.get(TERMS, params={"q": "报价"}, headers=auth(tokens["bob"])).json()
    assert listing["total"] == 1
    assert client.delete(f"{TERMS}/{rec['id']}", headers=auth(tokens["admin"])).status_code == 200
    assert client.get(f"{TERMS}/{rec['id']}", headers=auth(tokens["bob"])).status_code == 404


def test_errors_are_json_4xx(client, tokens):
    _create(client, tokens, term="APR", definition="rate")
    admin = auth(tokens["admin"])
    r = client.post(TERMS, json={"term": "ａｐｒ", "definition": "dup"}, headers=admin)
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    assert client.post(TERMS, json={"term": "X", "bogus": 1}, headers=admin).status_code == 422
    assert client.post(TERMS, json={"term": "X"}, headers=admin).status_code == 400  # no definition
    assert client.get(f"{TERMS}/abc", headers=admin).status_code == 404


def test_highlight_limits_and_batch(client, tokens):
    _create(client, tokens, term="民生银行", definition="a bank")
    h = auth(tokens["bob"])
    r = client.post("/v1/glossary/highlight", json={"text": "<b>民生銀行</b>", "format": "html"}, headers=h)
    body = r.json()
    assert body["matches"][0]["surface"] == "民生銀行" and body["matches"][0]["start"] == 3
    assert '<mark class="kb-term" data-term-id=' in body["rendered"]
    assert client.post("/v1/glossary/highlight", json={"text": ""}, headers=h).json() == {"matches": []}
    big = {"text": "a" * (1024 * 1024 + 1)}
    r = client.post("/v1/glossary/highlight", json=big, headers=h)
    assert r.status_code == 413 and "1 MiB" in r.json()["error"]["message"]
    items = [{"text": "民生银行"}] * 100
    r = client.post("/v1/glossary/highlight/batch", json={"items": items}, headers=h)
    assert r.status_code == 200 and len(r.json()["results"]) == 100
    r = client.post("/v1/glossary/highlight/batch", json={"items": items + items[:1]}, headers=h)
    assert r.status_code == 413
    assert (
        client.post("/v1/glossary/highlight", json={"text": "x", "format": "pdf"}, headers=h).status_code
        == 422
    )
    assert client.post("/v1/glossary/highlight", json={"text": "x"}).status_code == 401


def test_lookup_import_export(client, tokens):
    admin, bob = auth(tokens["admin"]), auth(tokens["bob"])
    data = b"term\taliases\tdefinition\nletter of credit\tL/C\tA bank's promise.\n\tx\ty\n"
    assert (
        client.post("/v1/glossary/import", content=data, params={"format": "tsv"}, headers=bob).status_code
        == 403
    )
    rep = client.post("/v1/glossary/import", content=data, params={"format": "tsv"}, headers=admin).json()
    assert rep["imported"] == 1 and rep["errors"][0]["line"] == 3
    res = client.get("/v1/glossary/lookup", params={"q": "leter of credit"}, headers=bob).json()["results"]
    assert res[0]["term"] == "letter of credit"
    assert (
        client.get("/v1/glossary/lookup", params={"q": "l/"}, headers=bob).json()["results"][0]["match"]
        == "prefix"
    )
    out = client.get("/v1/glossary/export", params={"format": "csv"}, headers=bob)
    assert out.status_code == 200 and "letter of credit" in out.text


def test_search_alias_finds_main_term_and_returns_cards(client, tokens):
    admin = auth(tokens["admin"])
    _create(
        client, tokens, term="贷款审查委员会", aliases=["贷审会"], definition="负责审批大额贷款的委员会。"
    )
    docs = [
        {"id": "d1", "title": "授信流程", "text": "大额授信须提交贷款审查委员会审议，并形成会议纪要。"},
        {"id": "d2", "title": "费用报销", "text": "差旅费用按标准报销。"},
    ]
    r = client.post("/v1/libraries/policy/documents", json=docs, headers=admin)
    assert r.status_code == 200, r.text
    r = client.post("/v1/search", json={"query": "贷审会", "mode": "bm25"}, headers=auth(tokens["bob"]))
    body = r.json()
    assert r.status_code == 200, body
    assert [h["doc_id"] for h in body["hits"]][:1] == ["d1"]
    assert body["terms"][0]["term"] == "贷款审查委员会" and body["terms"][0]["surface"] == "贷审会"
    assert body["terms"][0]["definition"].startswith("负责审批")


def test_suggest_creates_drafts_with_examples(services, tokens, client):
    from indexer.pipeline import ingest_documents
    from kb.models import SourceDocument

    texts = [
        "本行贷款市场报价利率调整后，贷款市场报价利率将按月公布。客户经理应关注KYC要求。",
        "根据贷款市场报价利率，存量贷款重新定价。KYC材料须完整。",
        "贷款市场报价利率由全国银行间同业拆借中心发布。The KYC review uses the Loan Review Committee rules.",
        "Loan Review Committee meets weekly; KYC checks are documented by the Loan Review Committee.",
    ]
    docs = [SourceDocument(doc_id=f"d{i}", title=f"t{i}", text=t) for i, t in enumerate(texts)]
    ingest_documents(services.kb, "wiki", docs)
    g = services.glossary
    g.create({"term": "KYC", "definition": "Know your customer"})
    found = g.suggest("wiki", top=10, min_count=2)
    terms = [f["term"] for f in found]
    assert "贷款市场报价利率" in terms and "Loan Review Committee" in terms
    assert "KYC" not in terms  # already defined
    first = found[terms.index("贷款市场报价利率")]
    assert first["examples"] and "贷款市场报价利率" in first["examples"][0]
    assert g.get(first["term_id"])["status"] == "draft"
    r = client.post("/v1/glossary/suggest", json={"library": "nope"}, headers=auth(tokens["admin"]))
    assert r.status_code == 404
