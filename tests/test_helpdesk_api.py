"""Helpdesk over HTTP (contract, permissions, 409s, uploads, junk input) and the ``kb helpdesk`` CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import auth

FAQS = [
    {
        "id": "pin",
        "question": "How do I reset my card PIN?",
        "variants": ["I forgot my PIN"],
        "answer": "Use *Settings*.",
    },
    {"id": "vpn", "question": "VPN 连不上怎么办？", "variants": ["VPN無法連線"], "answer": "重启客户端。"},
]


@pytest.fixture(scope="module")
def env(tmp_path_factory, embedder) -> Iterator[tuple]:
    """One app for the module: (client, tokens); desk ``it`` with agents in ``it-agents``."""
    from fastapi.testclient import TestClient

    from kb.engine import KnowledgeBase
    from kb.settings import Settings
    from search_api.app import build_services, create_app

    settings = Settings(home=tmp_path_factory.mktemp("hdapi") / "kbhome", auth="on", embedder="e5")
    services = build_services(settings, kb=KnowledgeBase(settings, embedder=embedder))
    toks = {
        "admin": services.kb.tokens.create("root", [], admin=True),
        "agent": services.kb.tokens.create("carol", ["it-agents"]),
        "bob": services.kb.tokens.create("bob", []),
    }
    with TestClient(create_app(settings, services=services), raise_server_exceptions=False) as c:
        r = c.post(
            "/v1/helpdesk/desks", json={"id": "it", "agent_group": "it-agents"}, headers=auth(toks["admin"])
        )
        assert r.status_code == 201, r.text
        r = c.post("/v1/helpdesk/it/faqs/batch", json=FAQS, headers=auth(toks["admin"]))
        assert r.json()["created"] == 2
        yield c, toks


def test_ask_contract(env):
    c, t = env
    assert c.post("/v1/helpdesk/it/ask", json={"question": "PIN?"}).status_code == 401
    r = c.post("/v1/helpdesk/it/ask", json={"question": "I forgot my PIN"}, headers=auth(t["bob"]))
    body = r.json()
    assert r.status_code == 200 and body["status"] == "answered"
    assert set(body) == {"status", "answer", "faq_id", "confidence", "alternatives"}
    assert body["faq_id"] == "pin" and 0.5 <= body["confidence"] <= 1
    r = c.post(
        "/v1/helpdesk/it/ask", json={"question": "Is there parking for bicycles?"}, headers=auth(t["bob"])
    )
    body = r.json()
    assert body["status"] == "escalated" and isinstance(body["ticket_id"], int) and "answer" not in body
    assert set(body) <= {"status", "faq_id", "source", "confidence", "alternatives", "ticket_id"}


@pytest.mark.parametrize(
    "method,path,payload,status",
    [
        ("post", "/v1/helpdesk/it/ask", {"question": ""}, 400),
        ("post", "/v1/helpdesk/it/ask", {"question": "x" * 3000}, 400),
        ("post", "/v1/helpdesk/it/ask", {"q": "missing"}, 422),
        ("post", "/v1/helpdesk/it/ask", ["not", "an", "object"], 422),
        ("post", "/v1/helpdesk/nope/ask", {"question": "hi"}, 404),
        ("get", "/v1/helpdesk/tickets/abc", None, 422),
        ("get", "/v1/helpdesk/tickets/999999", None, 404),
        ("post", "/v1/helpdesk/tickets/999999/claim", None, 404),
        ("post", "/v1/helpdesk/it/feedback", {"question": "never asked", "helpful": False}, 404),
        ("post", "/v1/helpdesk/desks", {"id": "x"}, 403),
        ("post", "/v1/helpdesk/it/faqs", {"question": "q", "answer": "a"}, 403),
        ("get", "/v1/helpdesk/it/tickets", None, 403),
        ("get", "/v1/helpdesk/it/report", None, 403),
        ("post", "/v1/helpdesk/it/calibrate", {"records": []}, 403),
    ],
)
def test_junk_and_forbidden_requests_get_4xx(env, method, path, payload, status):
    c, t = env
    r = getattr(c, method)(path, headers=auth(t["bob"]), **({"json": payload} if payload is not None else {}))
    assert r.status_code == status, r.text
    assert "error" in r.json()


def test_queue_life_cycle_and_409s(env):
    c, t = env
    tid = c.post(
        "/v1/helpdesk/it/ask", json={"question": "Who waters the plants?"}, headers=auth(t["bob"])
    ).json()["ticket_id"]
    assert c.post(f"/v1/helpdesk/tickets/{tid}/claim", headers=auth(t["bob"])).status_code == 403
    r = c.post(f"/v1/helpdesk/tickets/{tid}/resolve", headers=auth(t["agent"]))
    assert r.status_code == 409 and "open" in r.json()["error"]["message"]
    queue = c.get("/v1/helpdesk/it/tickets", params={"state": "open"}, headers=auth(t["agent"])).json()[
        "tickets"
    ]
    assert tid in [x["id"] for x in queue]
    assert c.post(f"/v1/helpdesk/tickets/{tid}/claim", headers=auth(t["agent"])).json()["state"] == "assigned"
    assert c.post(f"/v1/helpdesk/tickets/{tid}/claim", headers=auth(t["admin"])).status_code == 409
    r = c.post(
        f"/v1/helpdesk/tickets/{tid}/reply", json={"message": "Facilities do."}, headers=auth(t["agent"])
    )
    assert r.json()["state"] == "answered"
    mine = c.get("/v1/helpdesk/tickets/mine", headers=auth(t["bob"])).json()["tickets"]
    assert any(x["id"] == tid and x["state"] == "answered" for x in mine)
    msgs = c.get(f"/v1/helpdesk/tickets/{tid}", headers=auth(t["bob"])).json()["messages"]
    assert msgs[-1] == {**msgs[-1], "role": "agent", "body": "Facilities do."}
    sug = c.get(f"/v1/helpdesk/tickets/{tid}/suggestion", headers=auth(t["agent"])).json()
    assert sug["suggest"] == "new"
    r = c.post(f"/v1/helpdesk/tickets/{tid}/publish", json={"mode": "new"}, headers=auth(t["agent"]))
    assert r.status_code == 200, r.text
    assert c.post(f"/v1/helpdesk/tickets/{tid}/resolve", headers=auth(t["bob"])).json()["state"] == "resolved"
    assert c.post(f"/v1/helpdesk/tickets/{tid}/close", headers=auth(t["bob"])).json()["state"] == "closed"
    assert c.post(f"/v1/helpdesk/tickets/{tid}/close", headers=auth(t["bob"])).status_code == 409
    assert c.post(f"/v1/helpdesk/tickets/{tid}/reopen", headers=auth(t["bob"])).json()["state"] == "open"
    again = c.post("/v1/helpdesk/it/ask", json={"question": "Who waters the plants?"}, headers=auth(t["bob"]))
    assert again.json()["status"] == "answered"
    rep = c.get("/v1/helpdesk/it/report", headers=auth(t["agent"])).json()
    assert rep["questions"] >= 2 and rep["median_first_response_seconds"] is not None


def test_not_helpful_and_ask_human(env):
    c, t = env
    c.post("/v1/helpdesk/it/ask", json={"question": "VPN 连不上怎么办？"}, headers=auth(t["bob"]))
    r = c.post(
        "/v1/helpdesk/it/feedback",
        json={"question": "VPN 连不上怎么办？", "helpful": False},
        headers=auth(t["bob"]),
    )
    tid = r.json()["ticket_id"]
    tk = c.get(f"/v1/helpdesk/tickets/{tid}", headers=auth(t["bob"])).json()
    assert tk["bot_answer"]["answer"] == "重启客户端。" and tk["reason"] == "not_helpful"
    r = c.post("/v1/helpdesk/it/human", json={"question": "I need a person"}, headers=auth(t["bob"]))
    assert r.json()["state"] == "open" and r.json()["reason"] == "asked_human"


def test_upload_import_reports_rows(env):
    c, t = env
    data = "id,question,variants,answer\nh1,Where is HR?,HR office|human resources,Floor 5\nbad,row\n"
    files = {"file": ("faq.csv", data.encode(), "text/csv")}
    r = c.post("/v1/helpdesk/hr/faqs/import", files=files, headers=auth(t["admin"]))
    assert r.status_code == 200 and r.json()["created"] == 1 and r.json()["errors"][0]["row"] == 3
    assert c.get("/v1/helpdesk/hr/faqs", headers=auth(t["bob"])).json()["faqs"][0]["variants"] == [
        "HR office",
        "human resources",
    ]
    r = c.patch("/v1/helpdesk/hr/faqs/h1", json={"answer": "Floor 6"}, headers=auth(t["admin"]))
    assert r.json()["answer"] == "Floor 6"
    assert c.delete("/v1/helpdesk/hr/faqs/h1", headers=auth(t["admin"])).status_code == 200
    assert c.get("/v1/helpdesk/hr/faqs/h1", headers=auth(t["bob"])).status_code == 404


def test_cli_import_set_ask_calibrate(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from search_api.cli import app

    monkeypatch.setenv("KB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KB_EMBEDDER", "e5")
    faq = tmp_path / "faq.jsonl"
    faq.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in FAQS) + "\n{oops\n", encoding="utf-8")
    run = CliRunner().invoke
    r = run(app, ["helpdesk", "import-faq", str(faq), "--desk", "it"])
    assert r.exit_code == 0 and "created=2" in r.output and "row 3" in r.output
    assert run(app, ["helpdesk", "desk", "set", "it", "--threshold", "0.6"]).exit_code == 0
    r = run(app, ["helpdesk", "ask", "--desk", "it", "I forgot my PIN", "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["faq_id"] == "pin"
    dev = tmp_path / "dev.jsonl"
    rows = [
        {"question": "forgot my pin", "faq_id": "pin"},
        {"question": "PIN reset", "faq_id": "pin"},
        {"question": "VPN 连接失败", "faq_id": "vpn"},
        {"question": "vpn broken", "faq_id": "vpn"},
        {"question": "lunch menu", "faq_id": None},
        {"question": "公司年会", "faq_id": None},
    ]
    dev.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in rows), encoding="utf-8")
    r = run(app, ["helpdesk", "calibrate", "--desk", "it", "--dev", str(dev), "--target-precision", "0.9"])
    assert r.exit_code == 0, r.output
    assert "precision" in r.output and "coverage" in r.output and "threshold=" in r.output
