"""Incremental ingestion: source -> documents -> chunks -> embeddings -> store (one transaction per batch)
-> derived indexes.

Unchanged documents (same fingerprint) are neither chunked nor embedded again, and chunk embeddings are cached
by (model, content hash), so a re-ingest only parses and hashes. A bad file or record is reported and skipped;
the run never aborts for one.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from indexer.chunking import chunk_document
from indexer.connectors import iter_source
from kb.engine import KnowledgeBase
from kb.errors import BadRequest
from kb.models import SkippedFile, SourceDocument, content_hash, normalize_acl

BATCH_DOCS = 64


@dataclass
class IngestReport:
    """What one ingestion run did."""

    library: str
    ingested: int = 0
    updated: int = 0
    unchanged: int = 0
    pruned: int = 0
    embedded_chunks: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        """The one-line summary printed at the end of a run."""
        return (
            f"library={self.library} ingested={self.ingested} updated={self.updated} "
            f"unchanged={self.unchanged} pruned={self.pruned} skipped={len(self.skipped)} "
            f"embedded_chunks={self.embedded_chunks} seconds={self.seconds:.2f}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "library": self.library,
            "ingested": self.ingested,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "pruned": self.pruned,
            "embedded_chunks": self.embedded_chunks,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "seconds": round(self.seconds, 3),
        }


class Ingestor:
    """Writes documents of one library into a knowledge base, batch by batch."""

    def __init__(self, kb: KnowledgeBase, library: str, default_acl: list[str] | None = None) -> None:
        if not library or not library.strip() or "/" in library:
            raise BadRequest("library name must be non-empty and contain no '/'")
        self.kb = kb
        self.library = library
        self.default_acl = normalize_acl(default_acl) if default_acl else None
        self.library_id = kb.store.ensure_library(library)
        self.known = kb.store.fingerprints(self.library_id)
        self.seen: set[str] = set()
        self.report = IngestReport(library=library)
        self._batch: list[SourceDocument] = []

    def add(self, item: SourceDocument | SkippedFile) -> None:
        """Take one connector item: queue a changed document, count an unchanged one, report a skip."""
        if isinstance(item, SkippedFile):
            self.report.skipped.append(item)
            return
        if item.doc_id in self.seen:
            self.report.skipped.append(SkippedFile(item.doc_id, "duplicate document id in this source"))
            return
        self.seen.add(item.doc_id)
        if not item.acl and self.default_acl:
            item.acl = list(self.default_acl)
        item.acl = normalize_acl(item.acl)
        old = self.known.get(item.doc_id)
        if old == item.fingerprint():
            self.report.unchanged += 1
            return
        if old is None:
            self.report.ingested += 1
        else:
            self.report.updated += 1
        self._batch.append(item)
        if len(self._batch) >= BATCH_DOCS:
            self.flush()

    def flush(self) -> None:
        """Chunk, embed (cache misses only) and write the queued documents in one transaction."""
        if not self._batch:
            return
        items = []
        for doc in self._batch:
            chunks = chunk_document(doc, max_tokens=self.kb.settings.chunk_tokens)
            hashes = [content_hash(c.embed_text(doc.title)) for c in chunks]
            items.append((doc, chunks, hashes))
        new_vectors = self._embed_missing(items)
        self.kb.store.write_documents(self.library_id, items, new_vectors, self.kb.model_name)
        self._batch = []

    def _embed_missing(self, items: list) -> dict[str, np.ndarray]:
        emb = self.kb.embedder
        if emb is None:
            return {}
        texts: dict[str, str] = {}
        for doc, chunks, hashes in items:
            for c, h in zip(chunks, hashes, strict=True):
                texts.setdefault(h, c.embed_text(doc.title))
        cached = self.kb.store.cached_embeddings(emb.name, texts)
        todo = [(h, t) for h, t in texts.items() if h not in cached]
        if not todo:
            return {}
        vecs = emb.embed_passages([t for _, t in todo])
        self.report.embedded_chunks += len(todo)
        return {h: v for (h, _), v in zip(todo, vecs, strict=True)}

    def finish(self, prune: bool = False) -> IngestReport:
        """Flush, optionally prune documents not seen in this run, and bring the indexes up to date."""
        self.flush()
        if prune:
            gone = set(self.known) - self.seen
            self.report.pruned = self.kb.store.delete_many(self.library_id, gone)
        if self.kb.model_name and self.kb.store.get_meta("embed_model") is None:
            self.kb.store.set_meta("embed_model", self.kb.model_name)
        self.kb.sync(force=True)
        return self.report


def _progress(items: Iterable, enabled: bool) -> Iterator:
    if not enabled:
        yield from items
        return
    from tqdm import tqdm

    yield from tqdm(items, unit="doc", desc="ingest", mininterval=0.5)


def ingest_path(
    kb: KnowledgeBase,
    path: str | Path,
    library: str,
    fmt: str | None = None,
    acl: list[str] | None = None,
    prune: bool = False,
    progress: bool = False,
    **connector_options: Any,
) -> IngestReport:
    """Ingest a file or folder into ``library`` (incremental; see module doc)."""
    t0 = time.perf_counter()
    ing = Ingestor(kb, library, default_acl=acl)
    source = iter_source(path, fmt, max_file_bytes=kb.settings.max_file_bytes, **connector_options)
    for item in _progress(source, progress):
        ing.add(item)
    report = ing.finish(prune=prune)
    report.seconds = time.perf_counter() - t0
    return report


def ingest_documents(
    kb: KnowledgeBase, library: str, docs: Iterable[SourceDocument | SkippedFile]
) -> IngestReport:
    """Upsert already-parsed documents (the HTTP batch endpoint uses this)."""
    t0 = time.perf_counter()
    ing = Ingestor(kb, library)
    for d in docs:
        ing.add(d)
    report = ing.finish(prune=False)
    report.seconds = time.perf_counter() - t0
    return report
