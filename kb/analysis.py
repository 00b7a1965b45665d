"""One text analyzer, used at index and at query time.

Pipeline: NFKC (full-width -> half-width, compatibility forms), case folding, Traditional -> Simplified
Chinese (so either script matches the other), then tokenisation: runs of CJK characters are segmented with
jieba in search mode (a long word also yields its sub-words), Latin words and numbers are kept whole and
optionally stemmed (Snowball English). The original text is never changed: :func:`normalize_with_map`
keeps a map from normalised back to original offsets for snippets and highlighting.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

# CJK ideographs (incl. extension A and compatibility), plus kana and hangul which jieba passes through.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"
_TOKEN_RE = re.compile(rf"([{_CJK}]+)|([0-9a-z\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff]+(?:[.'][0-9a-z]+)*)")
_HAS_CJK = re.compile(rf"[{_CJK}]")

# Lucene's English stop set: frequent words that only cost posting-list traversal.
EN_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
    ]
)
# Chinese function words and particles.
ZH_STOP = frozenset(
    [
        "的",
        "了",
        "是",
        "在",
        "和",
        "与",
        "及",
        "或",
        "等",
        "也",
        "都",
        "就",
        "而",
        "之",
        "其",
        "以",
        "于",
        "为",
        "被",
        "把",
        "让",
        "着",
        "过",
        "吗",
        "呢",
        "吧",
        "啊",
        "呀",
        "么",
    ]
)


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def fold_chinese(text: str) -> str:
    """Traditional -> Simplified Chinese (a no-op for text without CJK characters)."""
    if not _HAS_CJK.search(text):
        return text
    return _t2s().convert(text)


def normalize(text: str) -> str:
    """NFKC + case folding + Traditional->Simplified folding (the index/query form of text)."""
    return fold_chinese(unicodedata.normalize("NFKC", text).casefold())


@lru_cache(maxsize=65536)
def _fold_char(ch: str) -> str:
    return unicodedata.normalize("NFKC", ch).casefold()


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _fold_mostly_ascii(text: str) -> str | None:
    """Fold ``text`` run by run (ASCII runs with ``lower``, others per character), or None where some
    character folds to 0 or 2+ characters (then offsets are not the identity)."""
    out: list[str] = []
    pos = 0
    for m in _NON_ASCII.finditer(text):
        out.append(text[pos : m.start()].lower())
        for ch in m.group():
            folded = _fold_char(ch)
            if len(folded) != 1:
                return None
            out.append(folded)
        pos = m.end()
    out.append(text[pos:].lower())
    return "".join(out)


def normalize_with_map(text: str) -> tuple[str, Sequence[int]]:
    """Normalise ``text`` and return, for each normalised character, its offset in the original.

    Normalisation is done character by character so offsets stay exact even where NFKC or case folding
    change the length (e.g. a ligature, or 'ß' -> 'ss'). Text whose characters all fold to one character
    (ASCII, and most other text) takes a fast path with identity offsets (a ``range``).
    """
    if text.isascii():
        return text.lower(), range(len(text))
    joined = _fold_mostly_ascii(text)
    if joined is not None:
        offsets: Sequence[int] = range(len(text))
    else:
        parts = [_fold_char(ch) for ch in text]
        joined = "".join(parts)
        offsets = [i for i, p in enumerate(parts) for _ in p]
    folded = fold_chinese(joined)
    if len(folded) != len(joined):
        # Phrase-level conversion changed the length: fall back to per-character conversion.
        folded = "".join(fold_chinese(c) if len(fold_chinese(c)) == 1 else c for c in joined)
    return folded, offsets


@lru_cache(maxsize=1)
def _base_jieba():
    """jieba's main dictionary, loaded once per process (the slow part: ~1 s)."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)  # its start-up chatter would pollute CLI output
    tk = jieba.Tokenizer()
    tk.initialize()
    return tk


def _new_jieba():
    """A tokenizer with its own copy of the dictionary, so user words stay per analyzer."""
    import jieba

    base = _base_jieba()
    tk = jieba.Tokenizer()
    tk.FREQ, tk.total = dict(base.FREQ), base.total
    tk.initialized = True
    return tk


class Analyzer:
    """Turns text into index terms; accepts a user dictionary for Chinese segmentation."""

    def __init__(self, stem: bool = True, user_words: Iterable[str] = ()) -> None:
        self._jieba = _new_jieba()
        self._lock = threading.Lock()
        self._stemmer = None
        if stem:
            import Stemmer

            self._stemmer = Stemmer.Stemmer("english")
        self.user_words: set[str] = set()
        self.add_words(user_words)

    def add_words(self, words: Iterable[str]) -> int:
        """Add user-dictionary words (e.g. glossary terms) so they segment as one token."""
        added = 0
        with self._lock:
            for w in words:
                w = normalize(w.strip())
                if w and w not in self.user_words and _HAS_CJK.search(w):
                    # A high frequency makes jieba prefer the whole word over its parts.
                    self._jieba.add_word(w, freq=max(1000, 200 * len(w)))
                    self.user_words.add(w)
                    added += 1
        return added

    def _cjk_tokens(self, run: str) -> list[str]:
        return [t for t in self._jieba.cut_for_search(run) if t.strip() and t not in ZH_STOP]

    def _latin_token(self, word: str) -> str | None:
        if word in EN_STOP:
            return None
        if self._stemmer is not None and word.isalpha() and len(word) > 3:
            return self._stemmer.stemWord(word)
        return word

    def tokens(self, text: str) -> list[str]:
        """Index terms of ``text``, in order (search-mode sub-words follow their word)."""
        out: list[str] = []
        for m in _TOKEN_RE.finditer(normalize(text)):
            cjk, latin = m.group(1), m.group(2)
            if cjk:
                out.extend(self._cjk_tokens(cjk))
            else:
                tok = self._latin_token(latin)
                if tok:
                    out.append(tok)
        return out

    def query_terms(self, text: str) -> list[str]:
        """Distinct index terms of a query, in first-seen order."""
        return list(dict.fromkeys(self.tokens(text)))

    def surface_terms(self, text: str) -> list[str]:
        """Normalised (unstemmed) words of a query, for highlighting in original text."""
        out: list[str] = []
        for m in _TOKEN_RE.finditer(normalize(text)):
            cjk, latin = m.group(1), m.group(2)
            if cjk:
                out.extend(t for t in self._cjk_tokens(cjk) if t)
            elif latin not in EN_STOP:
                out.append(latin)
        return list(dict.fromkeys(out))
