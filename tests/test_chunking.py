"""Chunking: heading paths, size bounds, stable ids, Chinese text without spaces, overlap."""

from __future__ import annotations

from pathlib import Path

from indexer.chunking import chunk_document, estimate_tokens, split_sections
from indexer.connectors import iter_source
from kb.models import SourceDocument

CORPORA = Path(__file__).resolve().parent.parent / "corpora"

MD = """# Handbook

Intro paragraph.

## Chapter 1

Chapter text.

### Section 2

Section text.

```
# not a heading inside code
```

## Chapter 3

Last words.
"""


def _doc(text: str, title: str = "Handbook", fmt: str = "markdown", doc_id: str = "d1") -> SourceDocument:
    return SourceDocument(doc_id=doc_id, title=title, text=text, text_format=fmt)


def test_estimate_tokens() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("贷款审批") == 4
    assert estimate_tokens("loan approval 2024") == 4  # 3 words * 1.3, rounded up
    assert estimate_tokens("VPN 使用指南") == 6  # 4 CJK + 1.3


def test_heading_paths() -> None:
    chunks = chunk_document(_doc(MD))
    paths = [c.heading_path for c in chunks]
    # The top heading equals the title, so it is not repeated in the path.
    assert paths == [[], ["Chapter 1"], ["Chapter 1", "Section 2"], ["Chapter 3"]]
    assert chunks[2].text.startswith("Section text.")
    assert "# not a heading inside code" in chunks[2].text
    assert all("Handbook" not in c.text for c in chunks)
    assert chunks[1].embed_text("Handbook") == "Handbook > Chapter 1\nChapter text."


def test_plain_text_has_no_headings() -> None:
    chunks = chunk_document(_doc("# not a heading\n\nbody", fmt="plain"))
    assert len(chunks) == 1 and chunks[0].heading_path == [] and chunks[0].text.startswith("# not")


def test_size_bound_and_no_empty_chunks() -> None:
    paras = "\n\n".join(f"Paragraph {i} explains the loan approval rules in some detail." for i in range(60))
    chunks = chunk_document(_doc(paras, fmt="plain"), max_tokens=64)
    assert len(chunks) > 5
    assert all(estimate_tokens(c.text) <= 64 for c in chunks)
    assert all(c.text.strip() for c in chunks)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    # Paragraphs are packed, not one per chunk.
    assert sum(c.text.count("Paragraph") for c in chunks) == 60 and len(chunks) < 60


def test_chinese_without_spaces_split_at_sentence_ends() -> None:
    text = "".join(f"第{i}条规定客户经理应当在三个工作日内完成贷款资料的初审工作。" for i in range(40))
    chunks = chunk_document(_doc(text, fmt="plain"), max_tokens=100)
    assert len(chunks) >= 10
    assert all(estimate_tokens(c.text) <= 100 for c in chunks)
    assert all(c.text.endswith("。") for c in chunks)  # cut at 。, not mid-sentence
    assert "".join(c.text for c in chunks) == text  # nothing lost or duplicated


def test_sentence_longer_than_budget_is_cut_by_characters() -> None:
    text = "".join(chr(0x4E00 + i) for i in range(300))  # 300 CJK characters, no punctuation
    chunks = chunk_document(_doc(text, fmt="plain"), max_tokens=100)
    assert [len(c.text) for c in chunks] == [100, 100, 100]


def test_overlap_repeats_tail() -> None:
    text = " ".join(f"Rule {i} applies to branch staff." for i in range(40))
    chunks = chunk_document(_doc(text, fmt="plain"), max_tokens=40, overlap_tokens=12)
    assert len(chunks) > 3
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        last_sentence = prev.text.rsplit(". ", 1)[-1]
        assert nxt.text.startswith(last_sentence.rstrip("."))
        assert estimate_tokens(nxt.text) <= 40


def test_stable_ids() -> None:
    a = chunk_document(_doc(MD))
    b = chunk_document(_doc(MD))
    assert [c.chunk_id for c in a] == [c.chunk_id for c in b]
    assert len({c.chunk_id for c in a}) == len(a) and all(len(c.chunk_id) == 16 for c in a)
    changed = chunk_document(_doc(MD.replace("Last words.", "New last words.")))
    assert [c.chunk_id for c in changed][:3] == [c.chunk_id for c in a][:3]
    assert changed[3].chunk_id != a[3].chunk_id
    other = chunk_document(_doc(MD, doc_id="d2"))
    assert other[0].chunk_id != a[0].chunk_id


def test_empty_text_yields_title_chunk() -> None:
    chunks = chunk_document(_doc("", title="只有标题"))
    assert len(chunks) == 1 and chunks[0].text == "只有标题" and chunks[0].chunk_id
    headings_only = chunk_document(_doc("# A\n\n## B\n", title="T"))
    assert [c.text for c in headings_only] == ["T"]
    assert chunk_document(_doc("   ", title=""))[0].text == "d1"


def test_split_sections_stack() -> None:
    sections = split_sections("## A\na\n### B\nb\n## C\nc\n# D\nd", title="X")
    assert [s.path for s in sections] == [["A"], ["A", "B"], ["C"], ["D"]]


def test_corpus_documents_chunk_cleanly() -> None:
    for src in ("wiki-zh", "wiki-en", "docs-html", "mediawiki"):
        for doc in iter_source(CORPORA / src):
            if not isinstance(doc, SourceDocument):
                continue
            chunks = chunk_document(doc, max_tokens=80)
            assert chunks and all(c.text.strip() for c in chunks)
            assert all(estimate_tokens(c.text) <= 80 for c in chunks)
            assert all(not c.text.lstrip().startswith("#") for c in chunks), doc.doc_id


def test_loan_page_heading_paths() -> None:
    docs = {d.doc_id: d for d in iter_source(CORPORA / "wiki-zh") if isinstance(d, SourceDocument)}
    chunks = chunk_document(docs["信贷/贷款审批流程.md"], max_tokens=512)
    paths = [c.heading_path for c in chunks]
    assert ["二、尽职调查", "抵押物评估"] in paths
    table = next(c for c in chunks if c.heading_path == ["三、审查与审批"])
    assert "| 500万元以上 | 总行风险管理部 |" in table.text
