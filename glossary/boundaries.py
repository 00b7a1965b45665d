"""Word boundaries written into the text itself, so that the Aho-Corasick automaton enforces them in C.

Every Latin-script word character (letters and digits outside CJK, see :func:`word_table`) is moved to one of
three unassigned planes according to its position in its word: first (plane 4), last (plane 8) or both, a
one-character word (plane 12); characters inside a word and all other characters stay as they are. Keys go
through the same function on their own, so a key that starts (ends) with a word character can only match
where the text has a word start (end): "apr" (marked ``A p R``) never matches inside "april" (``A p r i L``),
and "rate" never inside "corporate". No match needs a boundary check in Python afterwards.

The transform is length-preserving in code points, so offsets need no mapping. Characters of the input that
already lie in planes 4-16 (unassigned, tags, variation selectors, private use) and lone surrogates become
U+FFFD in the marked copy so that they can never pose as a marked character. Astral letters (Deseret,
Gothic, ...) are not marked: a key that starts or ends with one matches without a boundary check.
"""

from __future__ import annotations

import re
import threading

import numpy as np

_FIRST_SHIFT, _LAST_SHIFT = 18, 19  # first: +0x40000, last: +0x80000, both: +0xC0000
_CJK_BMP = ((0x2E80, 0xA000), (0xAC00, 0xD7B0), (0xF900, 0xFB00))
_ODD_RE = re.compile("[\ud800-\udfff\U00040000-\U0010ffff]")
_SEP = "\n"  # never inside a normalised key (whitespace is collapsed to single spaces)

_TABLE: np.ndarray | None = None
_LOCK = threading.Lock()


def word_table() -> np.ndarray:
    """Booleans indexed by code point (all of Unicode): is it a word character of a Latin-script word?

    Word characters are the BMP characters for which ``str.isalnum`` holds, minus CJK ideographs, kana and
    Hangul (CJK terms match anywhere). Built once per process (about 20 ms).
    """
    global _TABLE
    if _TABLE is None:
        with _LOCK:
            if _TABLE is None:
                table = np.zeros(0x110000, dtype=bool)
                bmp = "".join(map(chr, range(0x10000)))
                table[:0x10000] = np.fromiter(map(str.isalnum, bmp), dtype=bool, count=0x10000)
                for lo, hi in _CJK_BMP:
                    table[lo:hi] = False
                _TABLE = table
    return _TABLE


def mark_words(text: str) -> str:
    """``text`` with its word characters moved to the planes that say where in a word they stand."""
    if not text:
        return text
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    if not text.isascii() and _ODD_RE.search(text):
        codes = codes.copy()
        codes[(codes >= 0x40000) | ((codes >= 0xD800) & (codes < 0xE000))] = 0xFFFD
    word = word_table()[codes].view(np.int8)
    step = np.diff(word, prepend=np.int8(0), append=np.int8(0))  # +1 where a word starts, -1 after its end
    marks = (step[:-1] == 1).astype(np.uint32) << _FIRST_SHIFT
    marks |= (step[1:] == -1).astype(np.uint32) << _LAST_SHIFT
    marks += codes
    return marks.tobytes().decode("utf-32-le")


def mark_many(keys: list[str]) -> list[str]:
    """:func:`mark_words` of each key, in one vectorised pass (keys must not contain a newline)."""
    if not keys:
        return []
    return mark_words(_SEP.join(keys)).split(_SEP)
