"""BM25 over chunks with tantivy, fed tokens produced by :class:`kb.analysis.Analyzer`.

tantivy does the inverted index, BM25 scoring, segment merging and crash-safe commits; our analyzer does the
language work. Analysed tokens are joined with spaces and indexed with a whitespace tokenizer, so index and
query terms are exactly the analyzer's. Title and body are separate fields (title boosted at query time).
ACL, library, tag and date filters are MUST clauses of the same query, i.e. applied inside retrieval.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path

import tantivy

from kb.analysis import Analyzer
from kb.index.base import ChunkHit, SearchFilter
from kb.store import IndexedChunk

_ANALYZER = "kbws"
_STATE = "kb_state.json"


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_unsigned_field("cid", stored=True, indexed=True, fast=True)
    sb.add_unsigned_field("did", stored=False, indexed=True, fast=True)
    sb.add_text_field("title", stored=False, tokenizer_name=_ANALYZER, index_option="freq")
    sb.add_text_field("body", stored=False, tokenizer_name=_ANALYZER, index_option="freq")
    sb.add_text_field("library", stored=False, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("acl", stored=False, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("tags", stored=False, tokenizer_name="raw", index_option="basic")
    sb.add_integer_field("updated", stored=False, indexed=True, fast=True)
    return sb.build()


class BM25Index:
    """A tantivy index in ``path`` that remembers the last change-log sequence it applied."""

    def __init__(self, path: Path, analyzer: Analyzer, title_boost: float = 2.0) -> None:
        self.path = Path(path)
        self.analyzer = analyzer
        self.title_boost = title_boost
        self._open()

    def _open(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.schema = _schema()
        self.index = tantivy.Index(self.schema, path=str(self.path), reuse=True)
        ws = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build()
        self.index.register_tokenizer(_ANALYZER, ws)

    # --- state -----------------------------------------------------------------------------------------
    @property
    def applied_seq(self) -> int:
        """Last change-log sequence whose effects are committed in this index."""
        p = self.path / _STATE
        if not p.exists():
            return 0
        try:
            return int(json.loads(p.read_text())["seq"])
        except (ValueError, KeyError, OSError):
            return 0

    def _set_applied(self, seq: int) -> None:
        tmp = self.path / (_STATE + ".tmp")
        tmp.write_text(json.dumps({"seq": seq}))
        tmp.replace(self.path / _STATE)  # atomic rename: the state is never half-written

    # --- writes ----------------------------------------------------------------------------------------
    def apply(self, document_ids: set[int], chunks: Iterable[IndexedChunk], seq: int) -> None:
        """Replace the chunks of ``document_ids`` with ``chunks`` (current state) and commit.

        Replaying the same change twice is harmless (delete-then-add), which is what makes catch-up after a
        crash between the tantivy commit and the state write safe.
        """
        writer = self.index.writer(heap_size=64_000_000, num_threads=1)
        try:
            # delete_documents_by_term does not match u64 terms from Python ints; a term-set query does.
            ids = sorted(document_ids)
            for i in range(0, len(ids), 1000):
                q = tantivy.Query.term_set_query(self.schema, "did", ids[i : i + 1000])
                writer.delete_documents_by_query(q)
            for ch in chunks:
                writer.add_document(self._doc(ch))
            writer.commit()
        except BaseException:
            writer.rollback()
            raise
        finally:
            writer.wait_merging_threads()
        self._set_applied(seq)
        self.index.reload()

    def _doc(self, ch: IndexedChunk) -> tantivy.Document:
        title = " ".join(self.analyzer.tokens(ch.title))
        heads = " ".join(self.analyzer.tokens(" ".join(ch.heading_path)))
        body = " ".join(self.analyzer.tokens(ch.text))
        doc = tantivy.Document()
        doc.add_unsigned("cid", ch.id)
        doc.add_unsigned("did", ch.document_id)
        doc.add_text("title", title)
        doc.add_text("body", f"{heads} {body}" if heads else body)
        doc.add_text("library", ch.library)
        for a in ch.acl:
            doc.add_text("acl", a)
        for t in ch.tags:
            doc.add_text("tags", t)
        doc.add_integer("updated", int(ch.updated_at.timestamp()))
        return doc

    def reload(self) -> None:
        """See commits made by other writers (another process's ingest)."""
        self.index.reload()

    def clear(self) -> None:
        """Drop everything (for a full rebuild)."""
        shutil.rmtree(self.path, ignore_errors=True)
        self._open()

    # --- reads -----------------------------------------------------------------------------------------
    def num_chunks(self) -> int:
        """Number of indexed chunks."""
        return self.index.searcher().num_docs

    def search(self, terms: list[str], flt: SearchFilter, limit: int) -> list[ChunkHit]:
        """Top ``limit`` chunks for the analysed query ``terms`` under the filter."""
        if not terms:
            return []
        query = self._query(terms, flt)
        searcher = self.index.searcher()
        result = searcher.search(query, limit=limit, count=False)
        addrs = [a for _, a in result.hits]
        if not addrs:
            return []
        cids = searcher.fast_field_values("cid", addrs)
        dids = searcher.fast_field_values("did", addrs)
        return [
            ChunkHit(chunk_pk=c, document_pk=d, score=float(s))
            for (s, _), c, d in zip(result.hits, cids, dids, strict=True)
        ]

    def _query(self, terms: list[str], flt: SearchFilter) -> tantivy.Query:
        Q, Occ = tantivy.Query, tantivy.Occur  # noqa: N806 - short local aliases
        should = []
        for t in terms:
            should.append((Occ.Should, Q.term_query(self.schema, "body", t)))
            should.append(
                (Occ.Should, Q.boost_query(Q.term_query(self.schema, "title", t), self.title_boost))
            )
        clauses = [(Occ.Must, Q.boolean_query(should))]
        for q in self._filters(flt):
            clauses.append((Occ.Must, Q.const_score_query(q, 0.0)))
        return Q.boolean_query(clauses)

    def _filters(self, flt: SearchFilter) -> list[tantivy.Query]:
        Q = tantivy.Query  # noqa: N806
        out = []
        if flt.principals is not None:
            out.append(Q.term_set_query(self.schema, "acl", list(flt.principals)))
        if flt.libraries is not None:
            out.append(Q.term_set_query(self.schema, "library", list(flt.libraries)))
        if flt.tags is not None:
            out.append(Q.term_set_query(self.schema, "tags", list(flt.tags)))
        if flt.updated_after is not None:
            out.append(
                Q.range_query(
                    self.schema,
                    "updated",
                    tantivy.FieldType.Integer,
                    int(flt.updated_after.timestamp()),
                    None,
                    include_lower=False,
                )
            )
        return out
