"""The source of truth: libraries, documents, chunks, embeddings and a change log, in SQL (SQLAlchemy 2.x).

Every write of a document (its row, its chunks, their embeddings and a change-log entry) is one transaction,
so a crash at any moment leaves either the old or the new version, never half of one. Derived indexes (BM25,
vectors) remember the last change-log sequence they applied and replay the rest to catch up.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

import numpy as np
from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    Select,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    delete,
    func,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from kb.db import Base, Database
from kb.errors import NotFound
from kb.models import Chunk, SourceDocument, normalize_acl


def utcnow() -> datetime:
    """Timezone-aware now (UTC)."""
    return datetime.now(UTC)


class LibraryRow(Base):
    """A library: one wiki space, document export or legacy knowledge base."""

    __tablename__ = "libraries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DocumentRow(Base):
    """A document; ``fingerprint`` tells an unchanged re-ingest apart."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("library_id", "doc_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    library_id: Mapped[int] = mapped_column(ForeignKey("libraries.id", ondelete="CASCADE"), index=True)
    doc_id: Mapped[str] = mapped_column(String(1000))
    title: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    acl: Mapped[list] = mapped_column(JSON, default=list)
    meta: Mapped[dict] = mapped_column(JSON, default=dict)
    text: Mapped[str] = mapped_column(Text, default="")
    fingerprint: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    indexed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ChunkRow(Base):
    """A chunk of a document (the unit of BM25 and vector retrieval)."""

    __tablename__ = "chunks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    chunk_id: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    heading_path: Mapped[list] = mapped_column(JSON, default=list)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)


class EmbeddingRow(Base):
    """An embedding cached by (model, content hash): unchanged text is never embedded twice."""

    __tablename__ = "embeddings"
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class ChangeRow(Base):
    """The change log that derived indexes replay (one row per document write or delete)."""

    __tablename__ = "changes"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[int] = mapped_column(Integer, index=True)
    op: Mapped[str] = mapped_column(String(10))
    at: Mapped[float] = mapped_column(Float)


class MetaRow(Base):
    """Small key/value facts about the store (e.g. the embedding model of the index)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


@dataclass
class StoredDocument:
    """A document as read back from the store."""

    id: int
    library: str
    doc_id: str
    title: str
    url: str | None
    tags: list[str]
    acl: list[str]
    metadata: dict
    text: str
    updated_at: datetime
    fingerprint: str

    def to_dict(self, with_text: bool = True) -> dict:
        """JSON-friendly form."""
        d = {
            "doc_id": self.doc_id,
            "library": self.library,
            "title": self.title,
            "url": self.url,
            "tags": self.tags,
            "acl": self.acl,
            "metadata": self.metadata,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }
        if with_text:
            d["text"] = self.text
        return d


@dataclass
class IndexedChunk:
    """What a derived index needs of one chunk."""

    id: int
    document_id: int
    library: str
    doc_id: str
    title: str
    text: str
    heading_path: list[str]
    tags: list[str]
    acl: list[str]
    updated_at: datetime
    content_hash: str


def vec_to_bytes(v: np.ndarray) -> bytes:
    """float32 little-endian bytes of a vector."""
    return np.asarray(v, dtype="<f4").tobytes()


def bytes_to_vec(b: bytes) -> np.ndarray:
    """Inverse of :func:`vec_to_bytes`."""
    return np.frombuffer(b, dtype="<f4")


# Bound on the values of one SQL IN (...) list (SQLite's variable limit; also keeps statements cacheable).
IN_BATCH = 500


@cache
def _hit_docs_stmt() -> Select:
    """Search-hit columns of documents by pk (one expanding IN parameter ``pks``)."""
    cols = (DocumentRow.id, LibraryRow.name, DocumentRow.doc_id, DocumentRow.title, DocumentRow.url,
            DocumentRow.tags, DocumentRow.acl, DocumentRow.updated_at, DocumentRow.fingerprint)  # fmt: skip
    return (
        select(*cols)
        .join(LibraryRow, LibraryRow.id == DocumentRow.library_id)
        .where(DocumentRow.id.in_(bindparam("pks", expanding=True)))
    )


@cache
def _chunk_texts_stmt() -> Select:
    """Chunk text and heading path by pk (one expanding IN parameter ``pks``)."""
    return select(ChunkRow.id, ChunkRow.text, ChunkRow.heading_path).where(
        ChunkRow.id.in_(bindparam("pks", expanding=True))
    )


def in_batches(values: Iterable, size: int = IN_BATCH) -> Iterator[list]:
    """Split values into lists short enough for one ``IN (...)`` clause."""
    vals = list(values)
    for i in range(0, len(vals), size):
        yield vals[i : i + size]


def _filter_batches(values: Iterable | None) -> list[list | None]:
    """``[None]`` (no filter: one unrestricted query) or the IN batches of ``values``."""
    return [None] if values is None else list(in_batches(values))


def _aware(dt: datetime | None) -> datetime:
    if dt is None:
        return utcnow()
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


class Store:
    """All reads and writes of the source of truth."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure_indexes(self) -> None:
        """Create indexes added after a store was first built (``create_all`` only indexes new tables).

        (library_id, acl) covers the per-library document counts of :meth:`libraries`, which otherwise scan
        the whole documents table, text included: 108 -> 8.5 ms at 100k documents. SQLite only, since
        PostgreSQL cannot btree-index a ``json`` column (that would need ``jsonb``).
        """
        if self.db.engine.dialect.name != "sqlite":
            return
        with self.db.engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE INDEX IF NOT EXISTS ix_documents_library_acl ON documents (library_id, acl)"
            )

    # --- libraries -------------------------------------------------------------------------------------
    def ensure_library(self, name: str) -> int:
        """Id of library ``name``, creating it if needed."""
        with self.db.session() as s:
            row = s.scalar(select(LibraryRow).where(LibraryRow.name == name))
            if row is None:
                row = LibraryRow(name=name)
                s.add(row)
                s.flush()
            return row.id

    def library_id(self, name: str) -> int:
        """Id of an existing library; NotFound otherwise."""
        with self.db.session() as s:
            lid = s.scalar(select(LibraryRow.id).where(LibraryRow.name == name))
        if lid is None:
            raise NotFound(f"unknown library: {name!r}")
        return lid

    def libraries(self, principals: list[str] | None = None) -> list[dict]:
        """All libraries with the number of documents ``principals`` may read (None: all documents)."""
        with self.db.session() as s:
            names = dict(s.execute(select(LibraryRow.id, LibraryRow.name)).all())
            # Few distinct ACLs exist, so grouping by the ACL value keeps this cheap at any corpus size.
            rows = s.execute(
                select(DocumentRow.library_id, DocumentRow.acl, func.count(DocumentRow.id)).group_by(
                    DocumentRow.library_id, DocumentRow.acl
                )
            ).all()
        counts = dict.fromkeys(names, 0)
        allowed = set(principals) if principals is not None else None
        for lid, acl, n in rows:
            if allowed is None or allowed & set(acl or ["public"]):
                counts[lid] += n
        return sorted(
            ({"name": names[i], "documents": c} for i, c in counts.items()), key=lambda d: d["name"]
        )

    def library_names(self) -> set[str]:
        """Names of all libraries."""
        with self.db.session() as s:
            return set(s.scalars(select(LibraryRow.name)))

    # --- documents -------------------------------------------------------------------------------------
    def fingerprints(self, library_id: int) -> dict[str, str]:
        """doc_id -> fingerprint for every document of a library (to detect unchanged ones)."""
        with self.db.session() as s:
            rows = s.execute(
                select(DocumentRow.doc_id, DocumentRow.fingerprint).where(
                    DocumentRow.library_id == library_id
                )
            ).all()
        return dict(rows)

    def cached_embeddings(self, model: str, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Embeddings already computed for these content hashes by ``model``."""
        hashes = list(set(hashes))
        out: dict[str, np.ndarray] = {}
        with self.db.session() as s:
            for part in in_batches(hashes):
                q = select(EmbeddingRow.content_hash, EmbeddingRow.vector).where(
                    EmbeddingRow.model == model, EmbeddingRow.content_hash.in_(part)
                )
                for h, v in s.execute(q):
                    out[h] = bytes_to_vec(v)
        return out

    def write_documents(
        self,
        library_id: int,
        items: Sequence[tuple[SourceDocument, list[Chunk], list[str]]],
        embeddings: dict[str, np.ndarray],
        model: str | None,
    ) -> None:
        """Upsert documents with their chunks and new embeddings in ONE transaction.

        ``items`` are (document, chunks, content hashes of the chunks); ``embeddings`` maps content hash to
        vector for hashes not yet cached.
        """
        now = utcnow()
        with self.db.session() as s:
            if model:
                self._put_embeddings(s, model, embeddings)
            for doc, chunks, hashes in items:
                row = s.scalar(
                    select(DocumentRow).where(
                        DocumentRow.library_id == library_id, DocumentRow.doc_id == doc.doc_id
                    )
                )
                if row is None:
                    row = DocumentRow(library_id=library_id, doc_id=doc.doc_id)
                    s.add(row)
                else:
                    s.execute(delete(ChunkRow).where(ChunkRow.document_id == row.id))
                row.title, row.url, row.text = doc.title, doc.url, doc.text
                row.tags, row.acl, row.meta = list(doc.tags), normalize_acl(doc.acl), dict(doc.metadata)
                row.fingerprint = doc.fingerprint()
                row.updated_at, row.indexed_at = _aware(doc.updated_at), now
                s.flush()
                for ch, h in zip(chunks, hashes, strict=True):
                    s.add(
                        ChunkRow(
                            document_id=row.id,
                            ordinal=ch.ordinal,
                            chunk_id=ch.chunk_id,
                            text=ch.text,
                            heading_path=list(ch.heading_path),
                            content_hash=h,
                        )
                    )
                s.add(ChangeRow(document_id=row.id, op="upsert", at=now.timestamp()))

    def _put_embeddings(self, s, model: str, embeddings: dict[str, np.ndarray]) -> None:  # noqa: ANN001
        existing = set()
        for part in in_batches(embeddings):
            existing |= set(
                s.scalars(
                    select(EmbeddingRow.content_hash).where(
                        EmbeddingRow.model == model, EmbeddingRow.content_hash.in_(part)
                    )
                )
            )
        for h, v in embeddings.items():
            if h not in existing:
                s.add(EmbeddingRow(model=model, content_hash=h, dim=int(v.shape[-1]), vector=vec_to_bytes(v)))

    def put_embeddings(self, model: str, embeddings: dict[str, np.ndarray]) -> None:
        """Cache embeddings (used by ``reindex --embeddings``)."""
        with self.db.session() as s:
            self._put_embeddings(s, model, embeddings)

    def delete_document(self, library: str, doc_id: str) -> None:
        """Delete one document (NotFound if absent)."""
        lid = self.library_id(library)
        with self.db.session() as s:
            row = s.scalar(
                select(DocumentRow).where(DocumentRow.library_id == lid, DocumentRow.doc_id == doc_id)
            )
            if row is None:
                raise NotFound(f"unknown document: {library}/{doc_id}")
            self._delete_rows(s, [row.id])

    def delete_many(self, library_id: int, doc_ids: Iterable[str]) -> int:
        """Delete several documents of a library (used by ``--prune``); returns how many."""
        doc_ids = list(doc_ids)
        n = 0
        with self.db.session() as s:
            for part in in_batches(doc_ids):
                ids = list(
                    s.scalars(
                        select(DocumentRow.id).where(
                            DocumentRow.library_id == library_id, DocumentRow.doc_id.in_(part)
                        )
                    )
                )
                self._delete_rows(s, ids)
                n += len(ids)
        return n

    def _delete_rows(self, s, ids: list[int]) -> None:  # noqa: ANN001
        if not ids:
            return
        now = utcnow().timestamp()
        s.execute(delete(ChunkRow).where(ChunkRow.document_id.in_(ids)))
        s.execute(delete(DocumentRow).where(DocumentRow.id.in_(ids)))
        for i in ids:
            s.add(ChangeRow(document_id=i, op="delete", at=now))

    def get_document(self, library: str, doc_id: str) -> StoredDocument:
        """One document by library and id (NotFound if absent)."""
        with self.db.session() as s:
            row = s.execute(
                select(DocumentRow, LibraryRow.name)
                .join(LibraryRow, LibraryRow.id == DocumentRow.library_id)
                .where(LibraryRow.name == library, DocumentRow.doc_id == doc_id)
            ).first()
        if row is None:
            raise NotFound(f"unknown document: {library}/{doc_id}")
        return self._stored(row[0], row[1])

    def documents_by_pk(self, pks: Iterable[int]) -> dict[int, StoredDocument]:
        """Documents by primary key, without their text (what a search hit shows); missing ones left out."""
        out: dict[int, StoredDocument] = {}
        with self.db.engine.connect() as conn:
            for part in in_batches(set(pks)):
                # Plain columns on a Core connection with a prebuilt statement: this runs on every search
                # request, where building the statement and an ORM session cost more than the query.
                for pk, lib, doc_id, title, url, tags, acl, upd, fp in conn.execute(
                    _hit_docs_stmt(), {"pks": part}
                ):
                    tags, acl = list(tags or []), list(acl or ["public"])
                    out[pk] = StoredDocument(pk, lib, doc_id, title, url, tags, acl, {}, "", _aware(upd), fp)
        return out

    def chunk_texts(self, chunk_pks: Iterable[int]) -> dict[int, tuple[str, list[str]]]:
        """chunk pk -> (text, heading path)."""
        out: dict[int, tuple[str, list[str]]] = {}
        with self.db.engine.connect() as conn:
            for part in in_batches(set(chunk_pks)):
                out.update({i: (t, h or []) for i, t, h in conn.execute(_chunk_texts_stmt(), {"pks": part})})
        return out

    @staticmethod
    def _stored(row: DocumentRow, library: str) -> StoredDocument:
        return StoredDocument(
            id=row.id,
            library=library,
            doc_id=row.doc_id,
            title=row.title,
            url=row.url,
            tags=list(row.tags or []),
            acl=list(row.acl or ["public"]),
            metadata=dict(row.meta or {}),
            text=row.text,
            updated_at=_aware(row.updated_at),
            fingerprint=row.fingerprint,
        )

    # --- change log and derived indexes ----------------------------------------------------------------
    def max_seq(self) -> int:
        """Sequence number of the latest change (0 when empty)."""
        with self.db.session() as s:
            return int(s.scalar(select(func.max(ChangeRow.seq))) or 0)

    def changed_since(self, seq: int) -> tuple[int, set[int]]:
        """(latest seq, ids of documents changed after ``seq``)."""
        with self.db.session() as s:
            rows = s.execute(select(ChangeRow.seq, ChangeRow.document_id).where(ChangeRow.seq > seq)).all()
        if not rows:
            return seq, set()
        return max(r[0] for r in rows), {r[1] for r in rows}

    def chunks_for_index(self, document_ids: Iterable[int] | None = None) -> Iterable[IndexedChunk]:
        """Chunks with their document's fields; all of them when ``document_ids`` is None."""
        base = (
            select(ChunkRow, DocumentRow, LibraryRow.name)
            .join(DocumentRow, DocumentRow.id == ChunkRow.document_id)
            .join(LibraryRow, LibraryRow.id == DocumentRow.library_id)
            .order_by(ChunkRow.id)
        )
        for part in _filter_batches(document_ids):
            q = base if part is None else base.where(ChunkRow.document_id.in_(part))
            with self.db.session() as s:
                for ch, doc, lib in s.execute(q):
                    yield IndexedChunk(
                        id=ch.id,
                        document_id=doc.id,
                        library=lib,
                        doc_id=doc.doc_id,
                        title=doc.title,
                        text=ch.text,
                        heading_path=list(ch.heading_path or []),
                        tags=list(doc.tags or []),
                        acl=list(doc.acl or ["public"]),
                        updated_at=_aware(doc.updated_at),
                        content_hash=ch.content_hash,
                    )

    def vector_entries(
        self, model: str, document_ids: Iterable[int] | None = None
    ) -> tuple[list[IndexedChunk], list[np.ndarray | None]]:
        """Lean rows for the vector index: chunk ids, filter fields and the embedding, in one query.

        Selects columns, not ORM objects, and skips chunk/document text: loading 100k vectors this way takes
        seconds instead of a minute.
        """
        base = (
            select(
                ChunkRow.id,
                ChunkRow.document_id,
                ChunkRow.content_hash,
                LibraryRow.name,
                DocumentRow.acl,
                DocumentRow.tags,
                DocumentRow.updated_at,
                EmbeddingRow.vector,
            )
            .join(DocumentRow, DocumentRow.id == ChunkRow.document_id)
            .join(LibraryRow, LibraryRow.id == DocumentRow.library_id)
            .outerjoin(
                EmbeddingRow,
                (EmbeddingRow.content_hash == ChunkRow.content_hash) & (EmbeddingRow.model == model),
            )
            .order_by(ChunkRow.id)
        )
        chunks: list[IndexedChunk] = []
        vectors: list[np.ndarray | None] = []
        with self.db.session() as s:
            for part in _filter_batches(document_ids):
                q = base if part is None else base.where(ChunkRow.document_id.in_(part))
                for cid, did, h, lib, acl, tags, upd, vec in s.execute(q):
                    chunks.append(
                        IndexedChunk(
                            cid,
                            did,
                            lib,
                            "",
                            "",
                            "",
                            [],
                            list(tags or []),
                            list(acl or ["public"]),
                            _aware(upd),
                            h,
                        )
                    )
                    vectors.append(bytes_to_vec(vec) if vec is not None else None)
        return chunks, vectors

    def all_content_hashes(self) -> list[tuple[str, str]]:
        """(content hash, embed text) of every chunk, for re-embedding with a new model."""
        with self.db.session() as s:
            rows = s.execute(
                select(ChunkRow.content_hash, ChunkRow.text, ChunkRow.heading_path, DocumentRow.title).join(
                    DocumentRow, DocumentRow.id == ChunkRow.document_id
                )
            ).all()
        out: dict[str, str] = {}
        for h, text, heads, title in rows:
            out[h] = Chunk(chunk_id="", ordinal=0, text=text, heading_path=heads or []).embed_text(title)
        return list(out.items())

    def get_meta(self, key: str) -> str | None:
        """A meta value, or None."""
        with self.db.session() as s:
            row = s.get(MetaRow, key)
            return row.value if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Set a meta value."""
        with self.db.session() as s:
            s.merge(MetaRow(key=key, value=value))

    def count_documents(self) -> int:
        """Number of documents in the store."""
        with self.db.session() as s:
            return int(s.scalar(select(func.count(DocumentRow.id))) or 0)
