"""The HTTP API through TestClient: auth, ACL, error codes, document endpoints."""

from __future__ import annotations

import pytest

from tests.conftest import auth

DOCS = [
    {"id": "loan", "title": "贷款审批流程", "text": "贷款审查委员会负责审批大额贷款。", "tags": ["信贷"]},
    {"id": "aml", "title": "反洗钱规定", "text": "大额交易报告 贷款 反洗钱", "acl": ["risk-team"]},
    {
        "id": "vpn",
        "title": "VPN guide",
        "text": "Connect to the VPN with your token.",
        "url": "https://w/vpn",
    },
]


@pytest.fixture
def seeded(client, tokens):
    r = client.post("/v1/libraries/wiki/documents", json=DOCS, headers=auth(tokens["admin"]))
    assert r.status_code == 200, r.text
    assert r.json()["ingested"] == 3
    return client


def test_healthz(client) -> None:
    assert client.get("/healthz").json()["status"] == "ok"


def test_search_requires_a_valid_token(seeded) -> None:
    assert seeded.post("/v1/search", json={"query": "贷款"}).status_code == 401
    r = seeded.post("/v1/search", json={"query": "贷款"}, headers=auth("kb_nope"))
    assert r.status_code == 401 and r.json()["error"]["message"]


def test_search_shape_and_acl(seeded, tokens) -> None:
    bob = seeded.post(
        "/v1/search", json={"query": "贷款", "mode": "bm25"}, headers=auth(tokens["bob"])
    ).json()
    assert {h["doc_id"] for h in bob["hits"]} == {"loan"}
    assert bob["total"] == 1 and bob["took_ms"] >= 0
    hybrid = seeded.post("/v1/search", json={"query": "贷款"}, headers=auth(tokens["bob"])).json()
    assert hybrid["hits"][0]["doc_id"] == "loan" and "aml" not in {h["doc_id"] for h in hybrid["hits"]}
    hit = bob["hits"][0]
    assert set(hit) >= {"doc_id", "library", "title", "url", "score", "snippet"}
    alice = seeded.post(
        "/v1/search", json={"query": "贷款", "mode": "bm25"}, headers=auth(tokens["alice"])
    ).json()
    assert {h["doc_id"] for h in alice["hits"]} == {"loan", "aml"}


def test_search_filters_and_explain(seeded, tokens) -> None:
    body = {"query": "贷款", "filters": {"tags": ["信贷"]}, "explain": True, "mode": "bm25"}
    r = seeded.post("/v1/search", json=body, headers=auth(tokens["alice"])).json()
    assert [h["doc_id"] for h in r["hits"]] == ["loan"]
    assert "bm25" in r["hits"][0]["explain"]["parts"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"query": ""}, 400),
        ({"query": "x", "top_k": 0}, 400),
        ({"query": "x", "top_k": 10_000}, 400),
        ({"query": "x", "mode": "nope"}, 422),
        ({"query": "x", "libraries": ["missing"]}, 404),
        ({"top_k": 3}, 422),
        ({"query": 12}, 422),
    ],
)
def test_bad_search_requests_get_4xx(seeded, tokens, body, status) -> None:
    r = seeded.post("/v1/search", json=body, headers=auth(tokens["bob"]))
    assert r.status_code == status, r.text
    assert r.json()["error"]["message"]


def test_malformed_json_and_oversize_body(seeded, tokens) -> None:
    h = {**auth(tokens["bob"]), "Content-Type": "application/json"}
    assert seeded.post("/v1/search", content=b"{not json", headers=h).status_code == 422
    huge = b'{"query": "' + b"x" * (26 * 1024 * 1024) + b'"}'
    assert seeded.post("/v1/search", content=huge, headers=h).status_code == 413


def test_get_and_delete_document(seeded, tokens) -> None:
    r = seeded.get("/v1/documents/wiki/vpn", headers=auth(tokens["bob"]))
    assert r.status_code == 200 and r.json()["url"] == "https://w/vpn"
    # A forbidden document looks exactly like a missing one.
    assert seeded.get("/v1/documents/wiki/aml", headers=auth(tokens["bob"])).status_code == 404
    assert seeded.get("/v1/documents/wiki/aml", headers=auth(tokens["alice"])).status_code == 200
    assert seeded.get("/v1/documents/wiki/nope", headers=auth(tokens["bob"])).status_code == 404
    assert seeded.delete("/v1/documents/wiki/vpn", headers=auth(tokens["bob"])).status_code == 403
    assert seeded.delete("/v1/documents/wiki/vpn", headers=auth(tokens["admin"])).status_code == 200
    assert seeded.delete("/v1/documents/wiki/vpn", headers=auth(tokens["admin"])).status_code == 404
    r = seeded.post("/v1/search", json={"query": "VPN token"}, headers=auth(tokens["bob"])).json()
    assert all(h["doc_id"] != "vpn" for h in r["hits"])


def test_upsert_needs_admin_and_reports_bad_records(client, tokens) -> None:
    recs = [{"id": "ok", "title": "t", "text": "hello"}, {"title": "no id"}, {"id": "x2", "title": "no text"}]
    assert client.post("/v1/libraries/x/documents", json=recs, headers=auth(tokens["bob"])).status_code == 403
    r = client.post("/v1/libraries/x/documents", json=recs, headers=auth(tokens["admin"]))
    assert r.status_code == 200, r.text
    assert r.json()["ingested"] == 1
    assert [s["path"] for s in r.json()["skipped"]] == ["record 1", "record 2"]
    # A batch that is not a list of objects is refused whole, with a message naming the bad element.
    bad = client.post(
        "/v1/libraries/x/documents", json=[recs[0], "not an object"], headers=auth(tokens["admin"])
    )
    assert bad.status_code == 422 and "body.1" in bad.json()["error"]["message"]
    assert client.post("/v1/libraries/x/documents", json=[], headers=auth(tokens["admin"])).status_code == 400


def test_libraries_listing(seeded, tokens) -> None:
    libs = seeded.get("/v1/libraries", headers=auth(tokens["bob"])).json()["libraries"]
    assert {"name": "wiki", "documents": 2} in libs  # the forbidden document is not even counted
    libs = seeded.get("/v1/libraries", headers=auth(tokens["alice"])).json()["libraries"]
    assert {"name": "wiki", "documents": 3} in libs


def test_openapi_docs(client) -> None:
    assert client.get("/docs").status_code == 200
    assert "/v1/search" in client.get("/openapi.json").json()["paths"]


def test_healthz_reveals_no_counts(seeded) -> None:
    body = seeded.get("/healthz").json()
    assert body["status"] == "ok" and "documents" not in body
