"""Vector index: exact and HNSW paths agree, filters apply inside retrieval, re-ingest replaces rows."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from kb.index.base import SearchFilter
from kb.index.vectors import VectorIndex
from kb.store import IndexedChunk


def _chunks(n: int, dim: int, seed: int = 0) -> tuple[list[IndexedChunk], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    vecs = rng.normal(size=(n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    chunks = [
        IndexedChunk(
            id=i + 1,
            document_id=i // 2 + 1,
            library="a" if i % 3 else "b",
            doc_id=f"d{i // 2}",
            title="t",
            text="x",
            heading_path=[],
            tags=["even"] if i % 2 == 0 else [],
            acl=["public"] if i % 4 else ["group:secret"],
            updated_at=datetime(2024, 1, 1 + i % 28, tzinfo=UTC),
            content_hash=str(i),
        )
        for i in range(n)
    ]
    return chunks, list(vecs)


@pytest.mark.parametrize("exact_limit", [10_000, 10])  # exact matrix product, then FAISS HNSW
def test_filters_apply_inside_retrieval(exact_limit: int) -> None:
    chunks, vecs = _chunks(2000, 32)
    vi = VectorIndex(32, exact_limit=exact_limit)
    vi.apply(set(), chunks, vecs, seq=1)
    q = vecs[0]  # chunk 1 is in library b, acl secret
    flt = SearchFilter(principals=("public", "user:bob"))
    hits = vi.search(q, flt, 10)
    assert len(hits) == 10
    by_id = {c.id: c for c in chunks}
    assert all("public" in by_id[h.chunk_pk].acl for h in hits)
    assert vi.search(q, SearchFilter(), 1)[0].chunk_pk == 1
    lib = vi.search(q, SearchFilter(libraries=("a",)), 10)
    assert lib and all(by_id[h.chunk_pk].library == "a" for h in lib)
    tagged = vi.search(q, SearchFilter(tags=("even",)), 10)
    assert tagged and all(by_id[h.chunk_pk].tags == ["even"] for h in tagged)
    recent = vi.search(q, SearchFilter(updated_after=datetime(2024, 1, 20, tzinfo=UTC)), 10)
    assert recent and all(by_id[h.chunk_pk].updated_at.day > 20 for h in recent)


def test_exact_and_hnsw_agree_on_top_hits() -> None:
    chunks, vecs = _chunks(3000, 48, seed=1)
    exact, hnsw = VectorIndex(48, exact_limit=100_000), VectorIndex(48, exact_limit=10)
    for vi in (exact, hnsw):
        vi.apply(set(), chunks, vecs, seq=1)
    overlap = []
    for q in vecs[:20]:
        a = {h.chunk_pk for h in exact.search(q, SearchFilter(), 10)}
        b = {h.chunk_pk for h in hnsw.search(q, SearchFilter(), 10)}
        overlap.append(len(a & b) / 10)
    assert np.mean(overlap) > 0.9


def test_reapply_replaces_rows_and_compacts() -> None:
    chunks, vecs = _chunks(200, 16)
    vi = VectorIndex(16)
    vi.apply(set(), chunks, vecs, seq=1)
    for r in range(12):
        vi.apply({c.document_id for c in chunks}, chunks, vecs, seq=2 + r)
    assert len(vi) == 200
    hits = vi.search(vecs[5], SearchFilter(), 3)
    assert hits[0].chunk_pk == 6 and len({h.chunk_pk for h in hits}) == 3
    vi.apply({1}, [], [], seq=99)  # delete document 1 (chunks 1 and 2)
    assert {h.chunk_pk for h in vi.search(vecs[0], SearchFilter(), 200)}.isdisjoint({1, 2})


def test_empty_and_nothing_allowed() -> None:
    vi = VectorIndex(8)
    assert vi.search(np.ones(8, dtype=np.float32), SearchFilter(), 5) == []
    chunks, vecs = _chunks(10, 8)
    vi.apply(set(), chunks, vecs, seq=1)
    assert vi.search(vecs[0], SearchFilter(principals=("user:nobody",)), 5) == []
