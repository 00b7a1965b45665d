"""Offset-preserving text normalisation for glossary matching.

Terms and texts go through the same function: lower-casing, then a per-character fold that applies NFKC,
case folding and Traditional -> Simplified Chinese. Conversion is per character (never phrase-level) so that a
term and the text it appears in fold identically and every normalised character maps back to exactly one
original character. The fold table is built once per process (about 0.1 s) and applied with one regular
expression, so text that needs no folding (plain Simplified Chinese, lower-case English) costs almost nothing.
"""

from __future__ import annotations

import re
import sys
import threading
import unicodedata
from bisect import bisect_left, bisect_right

import numpy as np

# Code points outside the BMP whose NFKC form differs and that plausibly appear in business text:
# mathematical alphanumerics, enclosed alphanumerics and CJK compatibility ideographs.
_ASTRAL_RANGES = ((0x1D400, 0x1D800), (0x1F100, 0x1F200), (0x2F800, 0x2FA20))
_CJK_RANGES = ((0x3400, 0x4DC0), (0x4E00, 0xA000), (0xF900, 0xFB00), (0x20000, 0x2A6E0))
_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")
_LINE_SPACE = "\n\r\t\x0b\x0c"
_UCS4_BASE = sys.getsizeof("\U00010000") - 8  # header of a compact 4-byte-per-character str


def has_astral(text: str) -> bool:
    """Whether ``text`` has a character outside the BMP, in O(1).

    CPython stores a str with 4 bytes per character exactly when one of them is above U+FFFF, and
    ``sys.getsizeof`` tells the storage width without scanning; other interpreters get a regex scan.
    """
    if sys.implementation.name != "cpython":  # pragma: no cover
        return _ASTRAL_RE.search(text) is not None
    return sys.getsizeof(text) >= _UCS4_BASE + 4 * (len(text) + 1)


def _char_class(chars: list[str]) -> str:
    """A regex character class of ``chars`` written as ranges (so ``re`` can use its fast bitmap)."""
    cps = sorted({ord(c) for c in chars})
    parts: list[str] = []
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        lo, hi = re.escape(chr(cps[i])), re.escape(chr(cps[j]))
        parts.append(lo if i == j else f"{lo}-{hi}")
        i = j + 1
    return "[" + "".join(parts) + "]"


def _candidates() -> list[str]:
    chars = [chr(cp) for cp in range(0x80, 0x10000) if not 0xD800 <= cp < 0xE000]
    for lo, hi in _ASTRAL_RANGES:
        chars.extend(chr(cp) for cp in range(lo, hi))
    return chars


def _t2s_per_char(chars: list[str]) -> dict[str, str]:
    """Simplified form of each CJK character, converted one by one (one OpenCC call for all)."""
    import opencc

    cjk = [c for c in chars if any(lo <= ord(c) < hi for lo, hi in _CJK_RANGES)]
    # Newlines keep OpenCC from converting phrases across characters: each line is one character.
    out = opencc.OpenCC("t2s").convert("\n".join(cjk)).split("\n")
    if len(out) != len(cjk):  # pragma: no cover - OpenCC never merges lines
        return {}
    return {a: b for a, b in zip(cjk, out, strict=True) if a != b and b}


def _fold_char(ch: str, t2s: dict[str, str]) -> str:
    n = unicodedata.normalize("NFKC", ch).casefold()
    return "".join(t2s.get(c, c) for c in n)


def _build_table() -> dict[str, str]:
    """Every lower-case character whose fold differs from itself, mapped to its fold (a fixpoint)."""
    chars = _candidates()
    t2s = _t2s_per_char(chars)
    table: dict[str, str] = {}
    for ch in chars:
        low = ch.lower() if len(ch.lower()) == 1 else ch
        n = _fold_char(low, t2s)
        # Fold twice so that no output character is itself foldable (keys then never hold a foldable char).
        n = "".join(_fold_char(c, t2s) for c in n)
        if n != low:
            table[low] = n
    return table


_TABLE: dict[str, str] | None = None
_TABLE_LOCK = threading.Lock()


def fold_table() -> dict[str, str]:
    """The process-wide fold table (built on first use, thread-safe; about 0.2 s)."""
    global _TABLE
    if _TABLE is None:
        with _TABLE_LOCK:
            if _TABLE is None:
                _TABLE = _build_table()
    return _TABLE


def _lower(text: str) -> str:
    # str.lower is length-preserving for every code point except U+0130 (dotted capital I).
    if "\u0130" in text:
        text = text.replace("\u0130", "i")
    return text.lower()


def _spaces(text: str) -> str:
    """Line breaks and tabs become spaces (length-preserving) so that a term wrapped across lines matches."""
    # str.replace is memchr-fast; str.translate would cost a dict lookup per character.
    for ch in _LINE_SPACE:
        if ch in text:
            text = text.replace(ch, " ")
    return text


class Folder:
    """Folds text for one set of keys: only characters whose fold can contribute to a key are folded.

    A foldable character whose folded form shares no character with any key can never be part of a match,
    so leaving it alone changes no match; skipping it keeps Chinese punctuation (full-width commas,
    brackets) from costing a substitution each when no term contains punctuation.
    """

    def __init__(self, alphabet: set[str] | None = None) -> None:
        table = fold_table()
        active = [c for c, v in table.items() if alphabet is None or any(x in alphabet for x in v)]
        self._table = table
        bmp = [c for c in active if ord(c) < 0x10000]
        self._bmp = re.compile(_char_class(bmp) + "+") if bmp else None
        self._all = re.compile(_char_class(active) + "+") if len(bmp) < len(active) else self._bmp
        expanding = [c for c in active if len(table[c]) != 1]
        self._expanding = re.compile(_char_class(expanding)) if expanding else None
        self._bmp_hits = np.zeros(0x10000, dtype=bool)  # numpy pre-check: is any BMP character foldable?
        self._bmp_hits[[ord(c) for c in bmp]] = True

    def normalize(self, text: str) -> tuple[str, OffsetMap | None]:
        """Normalise ``text``; return it and, only if lengths differ, a map back to original offsets.

        ``None`` as the map means offsets are unchanged (the common case, kept free of any per-char work).
        """
        if text.isascii():
            return _spaces(text.lower()), None
        low = _spaces(_lower(text))
        astral = has_astral(low)
        if not astral and not self._any_bmp_hit(low):
            return low, None
        pattern = self._all if astral else self._bmp
        if pattern is None or not pattern.search(low):
            return low, None
        table = self._table
        folded = pattern.sub(lambda m: "".join([table[c] for c in m.group()]), low)
        if len(folded) == len(low):
            return folded, None
        return folded, self._offsets(low)

    def _any_bmp_hit(self, low: str) -> bool:
        """Whether a BMP-only text has a character to fold: one table look-up per character, in numpy
        (several times faster than a regular expression search over mostly-ASCII text)."""
        codes = np.frombuffer(low.encode("utf-16-le", "surrogatepass"), dtype=np.uint16)
        return bool(self._bmp_hits[codes].any())

    def _offsets(self, low: str) -> OffsetMap:
        """The expansions of ``low`` (only called when some character expands)."""
        starts: list[int] = []
        origs: list[int] = []
        ends: list[int] = []
        extra = 0
        assert self._expanding is not None
        for m in self._expanding.finditer(low):
            i = m.start()
            k = len(self._table[low[i]])
            starts.append(i + extra)
            ends.append(i + extra + k)
            origs.append(i)
            extra += k - 1
        return OffsetMap(starts, ends, origs)


class OffsetMap:
    """Maps offsets in normalised text back to the original where some characters expanded ("ß" -> "ss").

    Stored sparsely (one entry per expanded character) so that a megabyte of text with one ligature does
    not cost a million-entry list.
    """

    def __init__(self, starts: list[int], ends: list[int], origs: list[int]) -> None:
        self._starts, self._ends, self._origs = starts, ends, origs

    def orig(self, pos: int) -> int:
        """Original offset of the normalised character at ``pos``."""
        j = bisect_right(self._starts, pos) - 1
        if j < 0:
            return pos
        if pos < self._ends[j]:
            return self._origs[j]
        return self._origs[j] + 1 + pos - self._ends[j]

    def map_sorted(self, positions: list[int]) -> list[tuple[int, bool]]:
        """(original offset, inside-an-expansion) for ascending ``positions``, by one merge pass."""
        out: list[tuple[int, bool]] = []
        starts, ends, origs = self._starts, self._ends, self._origs
        j, m = -1, len(starts)
        for pos in positions:
            while j + 1 < m and starts[j + 1] <= pos:
                j += 1
            if j < 0:
                out.append((pos, False))
            elif pos < ends[j]:
                out.append((origs[j], pos > starts[j]))
            else:
                out.append((origs[j] + 1 + pos - ends[j], False))
        return out

    def splits(self, pos: int) -> bool:
        """Whether ``pos`` is inside an expansion (not its first character): no match may start there."""
        j = bisect_right(self._starts, pos) - 1
        return j >= 0 and self._starts[j] < pos < self._ends[j]


_FULL: Folder | None = None


def full_folder() -> Folder:
    """A folder that folds every foldable character (used for terms and queries)."""
    global _FULL
    if _FULL is None:
        _FULL = Folder(None)
    return _FULL


def normalize(text: str) -> tuple[str, OffsetMap | None]:
    """Fully normalise ``text`` (see :meth:`Folder.normalize`)."""
    return full_folder().normalize(text)


def normalize_term(text: str) -> str:
    """The matching form of a term: lower-cased, NFKC, case-folded, Simplified, whitespace collapsed."""
    return normalize(" ".join(text.split()))[0]


class Utf16Index:
    """Converts code-point offsets of one text to UTF-16 offsets (astral characters count twice)."""

    def __init__(self, text: str) -> None:
        self._astral = [m.start() for m in _ASTRAL_RE.finditer(text)] if has_astral(text) else []
        self.needed = bool(self._astral)

    def __call__(self, offset: int) -> int:
        """UTF-16 offset of code-point ``offset``."""
        if not self._astral:
            return offset
        return offset + bisect_left(self._astral, offset)
