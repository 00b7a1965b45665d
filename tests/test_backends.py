"""One behaviour suite run against every index backend (embedded tantivy + numpy/FAISS, and Elasticsearch).

The Elasticsearch run needs a real cluster: set KB_ES_URL (e.g. http://localhost:9200); otherwise it is
skipped with that message. Every index/state name is prefixed per test so runs never collide.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

import pytest

from indexer.pipeline import ingest_documents
from kb.engine import KnowledgeBase
from kb.index.base import SearchFilter
from kb.index.es import bm25_query, filter_clauses
from kb.models import Principal, SourceDocument
from kb.search import SearchRequest, SearchService
from kb.settings import Settings

BOB = Principal("bob", groups=("tellers",))


@pytest.fixture(params=["embedded", "elasticsearch"])
def backend_kb(request, tmp_path, embedder) -> KnowledgeBase:
    if request.param == "elasticsearch":
        url = os.environ.get("KB_ES_URL")
        if not url:
            pytest.skip("Elasticsearch backend: set KB_ES_URL to a running cluster to run these tests")
        s = Settings(
            home=tmp_path / "h",
            index_backend="elasticsearch",
            es_url=url,
            es_index_prefix=f"kbtest-{uuid.uuid4().hex[:8]}",
        )
    else:
        s = Settings(home=tmp_path / "h")
    return KnowledgeBase(s, embedder=embedder)


def _docs() -> list[SourceDocument]:
    secret = [
        SourceDocument(
            f"s{i}",
            f"wire transfer limits {i}",
            "wire transfer limits and approvals " * 3,
            acl=["group:treasury"],
            tags=["wire"],
        )
        for i in range(30)
    ]
    public = [
        SourceDocument(
            f"p{i}",
            f"branch note {i}",
            f"a wire transfer at the branch, case {i}",
            tags=["branch"],
            updated_at=datetime(2024, 1, 1 + i, tzinfo=UTC),
        )
        for i in range(8)
    ]
    teller = [SourceDocument("t0", "teller wire guide", "how tellers send a wire transfer", acl=["tellers"])]
    return secret + public + teller


@pytest.mark.parametrize("mode", ["bm25", "vector", "hybrid"])
def test_acl_inside_retrieval_returns_k(backend_kb, mode: str) -> None:
    ingest_documents(backend_kb, "ops", _docs())
    res = SearchService(backend_kb).search(
        SearchRequest(query="wire transfer limits", mode=mode, top_k=5), BOB
    )
    assert len(res.hits) == 5
    assert all(h.doc_id[0] in "pt" for h in res.hits)


def test_filters_and_replace_and_delete(backend_kb) -> None:
    ingest_documents(backend_kb, "ops", _docs())
    svc = SearchService(backend_kb)
    res = svc.search(SearchRequest(query="wire", mode="bm25", tags=["branch"], top_k=20), BOB)
    assert {h.doc_id for h in res.hits} == {f"p{i}" for i in range(8)}
    after = datetime(2024, 1, 5, tzinfo=UTC)
    res = svc.search(SearchRequest(query="wire", mode="bm25", updated_after=after, top_k=20), BOB)
    assert {h.doc_id for h in res.hits} == {"p5", "p6", "p7", "t0"}  # t0 is dated now; "after" is strict
    ingest_documents(backend_kb, "ops", [SourceDocument("p0", "branch note 0", "okapi sighting")])
    assert [h.doc_id for h in svc.search(SearchRequest(query="okapi", mode="bm25"), BOB).hits] == ["p0"]
    backend_kb.store.delete_document("ops", "p0")
    backend_kb.sync(force=True)
    assert svc.search(SearchRequest(query="okapi", mode="bm25"), BOB).hits == []


def test_es_query_shapes() -> None:
    """The Elasticsearch request bodies carry every filter inside the query (checked without a cluster)."""
    flt = SearchFilter(
        principals=("public", "user:bob"),
        libraries=("a",),
        tags=("t",),
        updated_after=datetime(2024, 1, 1, tzinfo=UTC),
    )
    clauses = filter_clauses(flt)
    assert {"terms": {"acl": ["public", "user:bob"]}} in clauses
    assert {"terms": {"library": ["a"]}} in clauses and {"terms": {"tags": ["t"]}} in clauses
    assert {"range": {"updated": {"gt": 1704067200}}} in clauses
    q = bm25_query(["wire", "limit"], flt, 0.25)["bool"]
    assert q["filter"] == clauses and q["minimum_should_match"] == 1 and len(q["should"]) == 4
    assert filter_clauses(SearchFilter()) == []
