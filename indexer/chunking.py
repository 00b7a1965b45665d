"""Heading-aware chunking of documents into pieces of about ``max_tokens`` tokens.

Sections are cut at Markdown headings (each chunk carries its heading path); paragraphs are packed into a
chunk up to the budget; an over-long paragraph is cut at sentence ends (Chinese and Latin punctuation,
newlines) and, as a last resort, at character/word boundaries. Heading lines themselves are not repeated in
chunk text: they are in ``heading_path``, which ``Chunk.embed_text`` prefixes together with the title.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from kb.models import Chunk, SourceDocument, content_hash

# CJK ideographs (incl. extension A and compatibility), kana, Hangul, and CJK/full-width punctuation.
_CJK = re.compile(
    r"[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
    r"\U00020000-\U0002ffff]"
)
_WORD = re.compile(r"[^\W_]+(?:['’.\-][^\W_]+)*")
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
# A sentence ends after CJK terminators (plus closing quotes/brackets), after Latin ones when followed by
# whitespace (so "3.5%" and "e.g.x" stay whole), or at a newline.
_SENTENCE_END = re.compile(r"(?<=[。！？；!?][”’」』）)])|(?<=[。！？；])(?![”’」』）)])|(?<=[.!?])(?=\s)|\n")
# Units for the last-resort split: one CJK character, or one word with its trailing spaces.
_UNIT = re.compile(
    r"[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]\s*"
    r"|[^\s\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]+\s*"
    r"|\s+"
)


def estimate_tokens(text: str) -> int:
    """Rough token count: each CJK character ~1 token, each Latin word or number ~1.3 tokens."""
    cjk = len(_CJK.findall(text))
    words = len(_WORD.findall(_CJK.sub(" ", text)))
    return math.ceil(cjk + 1.3 * words)


@dataclass
class _Section:
    """A run of text under one heading path."""

    path: list[str]
    paragraphs: list[str] = field(default_factory=list)


def _paragraphs(lines: list[str]) -> list[str]:
    """Blank-line separated paragraphs (a fenced code block stays one paragraph)."""
    out: list[str] = []
    cur: list[str] = []
    in_fence = False
    for line in lines:
        if _FENCE.match(line):
            in_fence = not in_fence
        if not line.strip() and not in_fence:
            if cur:
                out.append("\n".join(cur).strip("\n"))
            cur = []
        else:
            cur.append(line.rstrip())
    if cur:
        out.append("\n".join(cur).strip("\n"))
    return [p for p in out if p.strip()]


def split_sections(text: str, title: str = "", markdown: bool = True) -> list[_Section]:
    """Sections of ``text`` cut at Markdown headings (outside code fences), each with its heading path.

    A top heading equal to the document title is left out of the path: the title is already the first
    part of the embed prefix.
    """
    sections = [_Section([])]
    stack: list[tuple[int, str]] = []
    lines: list[str] = []
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        m = None if in_fence or not markdown else _HEADING.match(line)
        if not m:
            lines.append(line)
            continue
        sections[-1].paragraphs = _paragraphs(lines)
        lines = []
        level, heading = len(m.group(1)), m.group(2).strip()
        stack = [(lv, h) for lv, h in stack if lv < level] + [(level, heading)]
        path = [h for lv, h in stack]
        if path and path[0] == title.strip():
            path = path[1:]
        sections.append(_Section(path))
    sections[-1].paragraphs = _paragraphs(lines)
    return [s for s in sections if s.paragraphs]


def _sentences(text: str) -> list[str]:
    """``text`` cut after each sentence end; the pieces keep their whitespace, so joining them with ""
    restores the text exactly (newlines in lists and tables survive)."""
    out: list[str] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        if m.end() > start:
            out.append(text[start : m.end()])
            start = m.end()
    if start < len(text):
        out.append(text[start:])
    return [s for s in out if s.strip()]


def _split_long(text: str, max_tokens: int) -> list[str]:
    """Pieces of ``text`` each within ``max_tokens``: sentences first, then words/characters."""
    pieces: list[str] = []
    for sentence in _sentences(text):
        if estimate_tokens(sentence) <= max_tokens:
            pieces.append(sentence)
        else:
            pieces.extend(_pack(_UNIT.findall(sentence), max_tokens))
    return _pack(pieces, max_tokens)


def _pack(pieces: list[str], max_tokens: int) -> list[str]:
    """Greedily concatenate consecutive pieces while the estimate stays within ``max_tokens``."""
    out: list[str] = []
    cur = ""
    for piece in pieces:
        candidate = cur + piece
        if cur and estimate_tokens(candidate) > max_tokens:
            out.append(cur.strip())
            cur = piece
        else:
            cur = candidate
    if cur.strip():
        out.append(cur.strip())
    return [p for p in out if p]


def _section_pieces(section: _Section, max_tokens: int) -> list[str]:
    """The section's paragraphs, with over-long ones cut to fit."""
    out: list[str] = []
    for para in section.paragraphs:
        if estimate_tokens(para) <= max_tokens:
            out.append(para)
        else:
            out.extend(_split_long(para, max_tokens))
    return out


def _chunk_texts(pieces: list[str], max_tokens: int, overlap_tokens: int) -> Iterator[str]:
    """Pack pieces (paragraphs/sentences) into chunk texts, repeating up to ``overlap_tokens`` of each
    chunk's tail at the start of the next one."""
    cur: list[str] = []
    for piece in pieces:
        if cur and estimate_tokens("\n\n".join([*cur, piece])) > max_tokens:
            yield "\n\n".join(cur)
            cur = _tail(cur, overlap_tokens, max_tokens - estimate_tokens(piece))
        cur.append(piece)
    if cur:
        yield "\n\n".join(cur)


def _tail(pieces: list[str], overlap_tokens: int, room: int) -> list[str]:
    """The last pieces of a chunk whose size fits both the overlap budget and the room left."""
    budget = min(overlap_tokens, room)
    out: list[str] = []
    for piece in reversed(pieces):
        if estimate_tokens("\n\n".join([piece, *out])) > budget:
            break
        out.insert(0, piece)
    if not out and budget > 0:
        # No whole paragraph fits: carry the last sentences of the last one instead.
        tail = ""
        for sentence in reversed(_sentences(pieces[-1])):
            if estimate_tokens(sentence + tail) > budget:
                break
            tail = sentence + tail
        out = [tail.strip()] if tail.strip() and tail.strip() != pieces[-1].strip() else []
    # Never carry the whole previous chunk: that would only duplicate it.
    return out if len(out) < len(pieces) else out[1:]


def chunk_id(doc_id: str, ordinal: int, heading_path: list[str], text: str) -> str:
    """Stable id of a chunk: the same document content always yields the same ids."""
    return content_hash(doc_id, str(ordinal), " > ".join(heading_path), text)[:16]


def chunk_document(doc: SourceDocument, max_tokens: int = 512, overlap_tokens: int = 0) -> list[Chunk]:
    """Split a document into heading-aware chunks of at most about ``max_tokens`` estimated tokens.

    Never returns an empty list or an empty chunk: a document without text yields one chunk holding its
    title (or its id when the title is empty too).
    """
    max_tokens = max(max_tokens, 8)
    overlap_tokens = max(0, min(overlap_tokens, max_tokens // 2))
    chunks: list[Chunk] = []
    markdown = doc.text_format == "markdown"
    for section in split_sections(doc.text or "", doc.title, markdown=markdown):
        for text in _chunk_texts(_section_pieces(section, max_tokens), max_tokens, overlap_tokens):
            if text.strip():
                n = len(chunks)
                path = list(section.path)
                chunks.append(Chunk(chunk_id(doc.doc_id, n, path, text), n, text, path))
    if not chunks:
        text = doc.title.strip() or doc.doc_id
        chunks.append(Chunk(chunk_id(doc.doc_id, 0, [], text), 0, text, []))
    return chunks
