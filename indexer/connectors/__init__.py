"""Source connectors: turn a file or folder into :class:`SourceDocument` items (and :class:`SkippedFile`
reports for what cannot be read). One module per format; :func:`iter_source` picks one.

Formats: ``markdown`` (folder of .md, a wiki space), ``html`` (folder of .html/.htm), ``jsonl`` (.jsonl,
.jsonl.gz, .json.gz; BEIR corpora as-is), ``csv`` (.csv/.tsv), ``mediawiki`` (XML export).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from indexer.connectors import csv_export, html, jsonl, markdown, mediawiki
from kb.errors import BadRequest, NotFound
from kb.models import SkippedFile, SourceDocument

FORMATS = ("markdown", "html", "jsonl", "csv", "mediawiki")
_ALIASES = {
    "md": "markdown",
    "htm": "html",
    "json": "jsonl",
    "ndjson": "jsonl",
    "tsv": "csv",
    "xml": "mediawiki",
}
# Extension -> format, checked in this order (longest suffixes first so ".jsonl.gz" wins over ".gz").
_BY_SUFFIX: list[tuple[tuple[str, ...], str]] = [
    (jsonl.SUFFIXES, "jsonl"),
    (markdown.SUFFIXES, "markdown"),
    (html.SUFFIXES, "html"),
    (csv_export.SUFFIXES, "csv"),
    (mediawiki.SUFFIXES, "mediawiki"),
]


_READERS: dict[str, Callable[..., Iterator[SourceDocument | SkippedFile]]] = {
    "markdown": markdown.iter_markdown,
    "html": html.iter_html,
    "jsonl": jsonl.iter_jsonl,
    "mediawiki": mediawiki.iter_mediawiki,
}


def detect_format(path: Path) -> str:
    """The format of a file (by extension) or a folder (by the files it holds); BadRequest if unknown."""
    if path.is_file():
        name = path.name.lower()
        for suffixes, fmt in _BY_SUFFIX:
            if name.endswith(suffixes):
                return fmt
        raise BadRequest(f"unknown source format for {path.name!r}; pass a format ({', '.join(FORMATS)})")
    # A folder: the first format (in the order above, Markdown before HTML) that has any file in it.
    names = [p.name.lower() for p in path.rglob("*") if p.is_file()]
    for fmt in ("markdown", "html", "jsonl", "csv", "mediawiki"):
        suffixes = next(s for s, f in _BY_SUFFIX if f == fmt)
        if any(n.endswith(suffixes) for n in names):
            return fmt
    raise BadRequest(f"no .md, .html, .jsonl, .csv or .xml files in folder {str(path)!r}")


def _normalize_format(fmt: str) -> str:
    """Canonical format name for a user-supplied one; BadRequest if unknown."""
    f = fmt.strip().lower().lstrip(".")
    f = _ALIASES.get(f, f)
    if f not in FORMATS:
        raise BadRequest(f"unknown source format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return f


def iter_source(
    path: str | Path,
    fmt: str | None = None,
    *,
    max_file_bytes: int = 20 * 1024 * 1024,
    id_col: str | None = None,
    title_col: str | None = None,
    text_col: str | None = None,
) -> Iterator[SourceDocument | SkippedFile]:
    """Documents of a file or folder, with a SkippedFile for each file or record that cannot be read.

    ``fmt`` is explicit or detected from the extension(s). Raises NotFound if ``path`` does not exist and
    BadRequest for an unknown format — both before the first item, since they are checked eagerly;
    after that, one bad file or record never raises. For JSONL and MediaWiki exports, which are streamed,
    ``max_file_bytes`` bounds each record/page instead of the whole file. ``id_col``/``title_col``/
    ``text_col`` pick CSV columns.
    """
    root = Path(path)
    if not root.exists():
        raise NotFound(f"source path not found: {str(root)!r}")
    chosen = _normalize_format(fmt) if fmt else detect_format(root)
    if chosen == "csv":
        return csv_export.iter_csv(
            root, max_file_bytes=max_file_bytes, id_col=id_col, title_col=title_col, text_col=text_col
        )
    return _READERS[chosen](root, max_file_bytes=max_file_bytes)


__all__ = ["FORMATS", "detect_format", "iter_source"]
