"""Ingestion + search end to end on the sample corpora: incremental runs, prune, ACL, filters, snippets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from indexer.pipeline import ingest_documents, ingest_path
from kb.errors import BadRequest, NotFound
from kb.models import Principal, SourceDocument
from kb.search import SearchRequest, SearchService
from tests.conftest import CORPORA

BOB = Principal("bob")
ALICE = Principal("alice", groups=("risk-team",))


def _load(kb):
    ingest_path(kb, CORPORA / "wiki-zh", "wiki-zh")
    ingest_path(kb, CORPORA / "wiki-en", "wiki-en")
    return kb


@pytest.fixture(scope="module")
def shared(tmp_path_factory, embedder):
    """One loaded knowledge base for the read-only tests of this module."""
    from kb.engine import KnowledgeBase
    from kb.settings import Settings

    home = tmp_path_factory.mktemp("shared") / "kbhome"
    return _load(KnowledgeBase(Settings(home=home, embedder="e5"), embedder=embedder))


@pytest.fixture
def loaded(kb):
    """A loaded knowledge base of its own (for tests that change it)."""
    return _load(kb)


def _ids(res) -> list[str]:
    return [h.doc_id for h in res.hits]


@pytest.mark.parametrize("mode", ["bm25", "vector", "hybrid"])
def test_each_mode_finds_the_obvious_page(shared, mode: str) -> None:
    svc = SearchService(shared)
    res = svc.search(SearchRequest(query="贷款审批流程", mode=mode, top_k=3), BOB)
    assert res.hits and res.hits[0].doc_id.endswith("贷款审批流程.md")


def test_traditional_query_finds_simplified_page(shared) -> None:
    res = SearchService(shared).search(SearchRequest(query="貸款審批", mode="bm25"), BOB)
    assert res.hits[0].title == "贷款审批流程"
    assert "<mark>" in res.hits[0].snippet


def test_results_are_documents_not_chunks(shared) -> None:
    res = SearchService(shared).search(SearchRequest(query="贷款", top_k=20), BOB)
    ids = _ids(res)
    assert len(ids) == len(set(ids))


def test_snippet_is_escaped_and_highlighted(kb) -> None:
    doc = SourceDocument("x", "xss", "<script>alert(1)</script> the wire cutoff is 3pm")
    ingest_documents(kb, "lib", [doc])
    hit = SearchService(kb).search(SearchRequest(query="wire cutoff", mode="bm25"), BOB).hits[0]
    assert "<script>" not in hit.snippet and "&lt;script&gt;" in hit.snippet
    assert "<mark>wire</mark>" in hit.snippet


def test_forbidden_documents_never_appear(shared) -> None:
    svc = SearchService(shared)
    for mode in ("bm25", "vector", "hybrid"):
        res = svc.search(SearchRequest(query="反洗钱 客户身份识别 KYC", mode=mode, top_k=50), BOB)
        assert all("反洗钱" not in h.title for h in res.hits), mode
    res = svc.search(SearchRequest(query="反洗钱 客户身份识别 KYC", mode="bm25"), ALICE)
    assert res.hits[0].title.startswith("反洗钱")


def test_k_results_come_back_when_many_better_hits_are_forbidden(kb) -> None:
    secret = [
        SourceDocument(f"s{i}", f"treasury wire limits {i}", "treasury wire limits " * 3, acl=["group:x"])
        for i in range(60)
    ]
    public = [SourceDocument(f"p{i}", f"note {i}", f"some text about wire number {i}") for i in range(12)]
    ingest_documents(kb, "lib", secret + public)
    for mode in ("bm25", "vector", "hybrid"):
        res = SearchService(kb).search(SearchRequest(query="treasury wire limits", mode=mode, top_k=10), BOB)
        assert len(res.hits) == 10, mode
        assert all(h.doc_id.startswith("p") for h in res.hits), mode
        assert res.total <= 12


def test_user_acl_and_public(kb) -> None:
    docs = [
        SourceDocument("mine", "alice only", "quarterly bonus table", acl=["user:alice"]),
        SourceDocument("all", "everyone", "quarterly bonus policy"),
    ]
    ingest_documents(kb, "hr", docs)
    svc = SearchService(kb)
    assert set(_ids(svc.search(SearchRequest(query="quarterly bonus"), ALICE))) == {"mine", "all"}
    assert _ids(svc.search(SearchRequest(query="quarterly bonus"), BOB)) == ["all"]


def test_reingest_unchanged_embeds_nothing_and_is_fast(kb) -> None:
    first = ingest_path(kb, CORPORA / "wiki-zh", "wiki-zh")
    again = ingest_path(kb, CORPORA / "wiki-zh", "wiki-zh")
    assert first.ingested > 5 and first.embedded_chunks > 0
    assert again.ingested == again.updated == again.embedded_chunks == 0
    assert again.unchanged == first.ingested
    assert again.seconds * 5 < first.seconds


def test_changed_document_is_replaced_and_prune_removes(kb, tmp_path) -> None:
    src = tmp_path / "space"
    src.mkdir()
    (src / "a.md").write_text("# Alpha\n\nthe giraffe policy", encoding="utf-8")
    (src / "b.md").write_text("# Beta\n\nthe zebra policy", encoding="utf-8")
    ingest_path(kb, src, "s")
    (src / "a.md").write_text("# Alpha\n\nthe okapi policy", encoding="utf-8")
    (src / "b.md").unlink()
    rep = ingest_path(kb, src, "s", prune=True)
    assert (rep.updated, rep.pruned) == (1, 1)
    svc = SearchService(kb)
    assert svc.search(SearchRequest(query="giraffe", mode="bm25"), BOB).hits == []
    assert svc.search(SearchRequest(query="zebra", mode="bm25"), BOB).hits == []
    assert _ids(svc.search(SearchRequest(query="okapi", mode="bm25"), BOB)) == ["a.md"]


def test_delete_document(loaded) -> None:
    loaded.store.delete_document("wiki-en", "it/vpn-setup.md")
    loaded.sync(force=True)
    res = SearchService(loaded).search(SearchRequest(query="VPN setup remote work", top_k=20), BOB)
    assert "it/vpn-setup.md" not in _ids(res)
    with pytest.raises(NotFound):
        loaded.store.delete_document("wiki-en", "it/vpn-setup.md")


def test_filters_libraries_tags_dates_and_pagination(shared) -> None:
    svc = SearchService(shared)
    res = svc.search(SearchRequest(query="VPN", libraries=["wiki-en"], top_k=20), BOB)
    assert res.hits and {h.library for h in res.hits} == {"wiki-en"}
    tagged = svc.search(SearchRequest(query="贷款", tags=["信贷"], top_k=20), BOB)
    assert tagged.hits and all("信贷" in h.tags for h in tagged.hits)
    future = svc.search(SearchRequest(query="贷款", updated_after=datetime(2100, 1, 1, tzinfo=UTC)), BOB)
    assert future.hits == []
    p1 = svc.search(SearchRequest(query="policy", top_k=2), BOB)
    p2 = svc.search(SearchRequest(query="policy", top_k=2, offset=2), BOB)
    assert not set(_ids(p1)) & set(_ids(p2))


def test_explain_has_both_parts(shared) -> None:
    res = SearchService(shared).search(SearchRequest(query="信用卡挂失", explain=True), BOB)
    parts = res.hits[0].explain["parts"]
    assert set(parts) == {"bm25", "vector"}


@pytest.mark.parametrize(
    "req",
    [
        SearchRequest(query=""),
        SearchRequest(query="   "),
        SearchRequest(query="x", top_k=0),
        SearchRequest(query="x", top_k=1000),
        SearchRequest(query="x", mode="magic"),
        SearchRequest(query="x" * 5000),
    ],
)
def test_bad_requests(kb, req) -> None:
    with pytest.raises(BadRequest):
        SearchService(kb).search(req, BOB)


def test_unknown_library(kb) -> None:
    with pytest.raises(NotFound):
        SearchService(kb).search(SearchRequest(query="x", libraries=["nope"]), BOB)


def test_reindex_rebuilds_bm25(loaded) -> None:
    n = loaded.rebuild_bm25()
    assert n == loaded.bm25.num_chunks() > 0
    res = SearchService(loaded).search(SearchRequest(query="密码重置", mode="bm25"), BOB)
    assert "密码" in res.hits[0].title


def test_library_counts_use_a_covering_index(kb) -> None:
    """The per-library counts (GET /v1/libraries) are answered from (library_id, acl), not a table scan
    of the documents with their text; an older store gets the index when it is opened again."""
    import sqlite3

    from kb.engine import KnowledgeBase

    path = kb.db.engine.url.database
    with sqlite3.connect(path) as con:
        con.execute("DROP INDEX ix_documents_library_acl")  # a store from before the index existed
    KnowledgeBase(kb.settings, embedder=None)
    with sqlite3.connect(path) as con:
        plan = con.execute(
            "EXPLAIN QUERY PLAN SELECT library_id, acl, count(id) FROM documents GROUP BY library_id, acl"
        ).fetchall()
    assert "ix_documents_library_acl" in str(plan)


def test_bm25_sync_does_not_wait_for_vector_loading(kb) -> None:
    """While the vector index is being loaded (seconds at 100k chunks, at server start), a BM25 search's
    sync() still runs: loading holds its own lock, not the sync lock."""
    import threading

    kb.reset_vectors()
    started, release = threading.Event(), threading.Event()
    real = kb.store.vector_entries

    def slow_entries(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        started.set()
        release.wait(10)
        return real(*args, **kwargs)

    kb.store.vector_entries = slow_entries  # type: ignore[method-assign]
    loader = threading.Thread(target=lambda: kb.vectors)
    loader.start()
    try:
        assert started.wait(5)
        done = threading.Event()
        syncer = threading.Thread(target=lambda: (kb.sync(force=True), done.set()))
        syncer.start()
        assert done.wait(5), "sync() blocked behind the vector loading"
    finally:
        release.set()
        loader.join(10)
        kb.store.vector_entries = real  # type: ignore[method-assign]
    assert kb.vectors is not None
