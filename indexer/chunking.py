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


def _split_long(text: str, max_tokens: int, run_tokens: int) -> list[str]:
    """Sentences of an over-long paragraph; a sentence that alone exceeds the budget is cut into runs of
    words/characters of at most ``run_tokens`` (small, so packing and overlap stay fine-grained)."""
    pieces: list[str] = []
    for sentence in _sentences(text):
        if estimate_tokens(sentence) <= max_tokens:
            pieces.append(sentence)
        else:
            pieces.extend(_pack(_UNIT.findall(sentence), run_tokens))
    return pieces


def _pack(pieces: list[str], max_tokens: int) -> list[str]:
    """Greedily concatenate consecutive pieces while the estimate stays within ``max_tokens``."""
    out: list[str] = []
    cur = ""
    for piece in pieces:
        if cur and estimate_tokens(cur + piece) > max_tokens:
            out.append(cur)
            cur = piece
        else:
            cur += piece
    if cur.strip():
        out.append(cur)
    return out


# A piece of a section: (separator before it, text). Whole paragraphs are preceded by a blank line;
# sentences cut from a long paragraph by nothing, as they already carry their own whitespace.
_Piece = tuple[str, str]


def _section_pieces(section: _Section, max_tokens: int, overlap_tokens: int) -> list[_Piece]:
    """The section's paragraphs, with over-long ones cut into sentence pieces."""
    out: list[_Piece] = []
    for para in section.paragraphs:
        if estimate_tokens(para) <= max_tokens:
            out.append(("\n\n", para))
        else:
            run = max(1, min(max_tokens // 4, overlap_tokens or max_tokens))
            parts = _split_long(para, max_tokens, run)
            out.extend(("\n\n" if i == 0 else "", part) for i, part in enumerate(parts))
    return out


def _join(pieces: list[_Piece]) -> str:
    """The text of consecutive pieces (the first piece's separator is dropped)."""
    return "".join(text if i == 0 else sep + text for i, (sep, text) in enumerate(pieces)).strip()


def _chunk_texts(pieces: list[_Piece], max_tokens: int, overlap_tokens: int) -> Iterator[str]:
    """Pack pieces into chunk texts, repeating up to ``overlap_tokens`` of each chunk's tail at the start
    of the next one."""
    cur: list[_Piece] = []
    for piece in pieces:
        if cur and estimate_tokens(_join([*cur, piece])) > max_tokens:
            yield _join(cur)
            cur = _tail(cur, min(overlap_tokens, max_tokens - estimate_tokens(piece[1])))
        cur.append(piece)
    if cur:
        yield _join(cur)


def _tail(pieces: list[_Piece], budget: int) -> list[_Piece]:
    """The longest suffix of ``pieces`` within ``budget`` tokens, never the whole list."""
    out: list[_Piece] = []
    for piece in reversed(pieces[1:]):
        if estimate_tokens(_join([piece, *out])) > budget:
            break
        out.insert(0, piece)
    return out


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
        for text in _chunk_texts(
            _section_pieces(section, max_tokens, overlap_tokens), max_tokens, overlap_tokens
        ):
            if text.strip():
                n = len(chunks)
                path = list(section.path)
                chunks.append(Chunk(chunk_id(doc.doc_id, n, path, text), n, text, path))
    if not chunks:
        text = doc.title.strip() or doc.doc_id
        chunks.append(Chunk(chunk_id(doc.doc_id, 0, [], text), 0, text, []))
    return chunks
