"""The term matcher: Aho-Corasick over normalised text, leftmost-longest, non-overlapping, exact offsets.

A :class:`Matcher` is immutable once built; the service builds a new one in the background when terms change
and swaps a single reference, so readers never lock and never see a half-built automaton.

Rules: matching is case- and width-insensitive and Traditional/Simplified-insensitive (see
:mod:`glossary.normalize`); a key that starts (ends) with a Latin letter or digit only matches where the text
has no letter or digit just before (after) it, so "APR" does not match inside "APRIL" (enforced inside the
automaton, see :mod:`glossary.boundaries`); CJK keys match anywhere; among overlapping candidates the
leftmost wins, then the longest ("民生银行" over "银行").
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

import ahocorasick

from glossary.boundaries import mark_many, mark_words
from glossary.normalize import Folder, OffsetMap, normalize_term

try:  # optional: leftmost-longest matching in native code (several times faster than Python resolution)
    import ahocorasick_rs
except ImportError:  # pragma: no cover - depends on the environment
    ahocorasick_rs = None

_ASCII_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_CJK_RE = re.compile("[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003ffff]")
_VOWELS = frozenset("aeiou")
_PLURAL_ES = ("s", "x", "z", "ch", "sh")


def is_word_char(ch: str) -> bool:
    """A character that continues a Latin-script word: an ASCII or other non-CJK letter or digit."""
    if ch in _ASCII_WORD:
        return True
    return ch > "\x7f" and ch.isalnum() and not _CJK_RE.match(ch)


@dataclass(frozen=True)
class Surface:
    """One written form of a term: the main term or an alias, with its flags."""

    text: str
    highlight: bool = True
    search: bool = True


class Key(NamedTuple):
    """A prepared surface: normalised form, boundary needs, flags."""

    norm: str
    left: bool
    right: bool
    highlight: bool
    query: bool
    exact: bool  # False for an inflected variant ("policies" of "policy")


@dataclass(frozen=True)
class MatchEntry:
    """What the matcher needs of one glossary entry (``keys`` are prepared once, see :func:`make_entry`)."""

    term_id: str
    term: str
    keys: tuple[Key, ...]
    scope: frozenset[str] | None = None  # None: global
    approved: bool = True


# A match in code points of the text that was searched: (start, end, entry index). A plain tuple, not a
# NamedTuple: constructing a NamedTuple costs more than everything else done per match.
Span = tuple[int, int, int]


def inflections(norm: str) -> list[str]:
    """English plural forms of a normalised Latin term (its last word inflected): "policy" -> "policies"."""
    last = norm.rsplit(" ", 1)[-1]
    if len(last) < 3 or not last.isascii() or not last.isalpha():
        return []
    if last.endswith("y") and last[-2] not in _VOWELS:
        return [norm[:-1] + "ies"]
    if last.endswith(_PLURAL_ES):
        return [norm + "es"]
    return [norm + "s"]


def prepare_keys(surfaces: Iterable[Surface], inflect: bool = True) -> tuple[Key, ...]:
    """Normalise an entry's surfaces once (at load or write time) so that rebuilding the matcher is cheap."""
    out: list[Key] = []
    seen: set[str] = set()
    for s in surfaces:
        norm = normalize_term(s.text)
        if not norm or norm in seen:
            continue
        seen.add(norm)
        left, right = is_word_char(norm[0]), is_word_char(norm[-1])
        out.append(Key(norm, left, right, s.highlight, s.highlight or s.search, True))
        if inflect and right:
            for v in inflections(norm):
                out.append(Key(v, left, right, s.highlight, s.highlight or s.search, False))
    return tuple(out)


def make_entry(
    term_id: str,
    term: str,
    surfaces: Iterable[Surface],
    scope: Iterable[str] | None = None,
    approved: bool = True,
    inflect: bool = True,
) -> MatchEntry:
    """A :class:`MatchEntry` with prepared keys; an empty ``scope`` means global."""
    libs = frozenset(scope) if scope else None
    return MatchEntry(term_id, term, prepare_keys(surfaces, inflect), libs, approved)


_Value = tuple  # (key length, left boundary, right boundary, global entry or -1, ((scope, entry), ...))


class Matcher:
    """Finds glossary surfaces in text; build once, share between threads.

    Two automata over word-marked keys (see :mod:`glossary.boundaries`): with ``ahocorasick_rs`` installed, a
    leftmost-longest one over the global keys answers unscoped requests entirely in native code; the
    pyahocorasick one (all keys, overlapping matches resolved in Python) answers scoped requests, and every
    request when ``ahocorasick_rs`` is missing or ``fast=False``.
    """

    def __init__(self, entries: Sequence[MatchEntry], fast: bool = True) -> None:
        self.entries = list(entries)
        with _gc_paused():
            first, multi = self._collect()
            self.query_keys: dict[str, _Value] = {}
            norms, values = self._values(first, multi)
            marked = mark_many(norms)
            self._scoped = any(v[4] for v in values)
            self._fast, self._fast_ids = (None, []) if not fast else _fast_automaton(marked, values)
            self._automaton = None if self._fast and not self._scoped else _exact_automaton(marked, values)
        self.folder = Folder(set("".join(self.query_keys)))
        self._query_max = max(map(len, self.query_keys), default=0)

    def _collect(self) -> tuple[dict[str, tuple[Key, int]], dict[str, list[tuple[Key, int]]]]:
        """Keys by normalised form: the first (key, entry) and, only for shared keys, all of them."""
        first: dict[str, tuple[Key, int]] = {}
        multi: dict[str, list[tuple[Key, int]]] = {}
        for idx, e in enumerate(self.entries):
            if not e.approved:
                continue
            for k in e.keys:
                item = (k, idx)
                if first.setdefault(k.norm, item) is not item:
                    multi.setdefault(k.norm, [first[k.norm]]).append(item)
        return first, multi

    def _values(self, first: dict, multi: dict) -> tuple[list[str], list[_Value]]:
        """Highlight keys and their values (also fills :attr:`query_keys`)."""
        norms: list[str] = []
        values: list[_Value] = []
        for norm, (k, idx) in first.items():
            if norm in multi:
                hl, q = self._merge(k, multi[norm])
            else:
                scope = self.entries[idx].scope
                v = (
                    (len(norm), k.left, k.right, idx, ())
                    if scope is None
                    else (len(norm), k.left, k.right, -1, ((scope, idx),))
                )
                hl, q = (v if k.highlight else None), (v if k.query else None)
            if hl is not None:
                norms.append(norm)
                values.append(hl)
            if q is not None:
                self.query_keys[norm] = q
        return norms, values

    def _merge(self, k: Key, items: list[tuple[Key, int]]) -> tuple[_Value | None, _Value | None]:
        """Values of a key shared by several entries: exact surfaces win over inflected variants."""
        out: list[_Value | None] = []
        for flag in ("highlight", "query"):
            cand = [(key, i) for key, i in items if getattr(key, flag)]
            exact = [i for key, i in cand if key.exact]
            idxs = list(dict.fromkeys(exact or [i for _, i in cand]))
            if not idxs:
                out.append(None)
                continue
            glob = next((i for i in idxs if self.entries[i].scope is None), -1)
            scoped = tuple((self.entries[i].scope, i) for i in idxs if self.entries[i].scope is not None)
            out.append((len(k.norm), k.left, k.right, glob, scoped))
        return out[0], out[1]

    # --- matching ---------------------------------------------------------------------------------------
    def find(self, text: str, scope: Iterable[str] | None = None) -> list[Span]:
        """Highlightable matches in ``text`` (code points of ``text``), leftmost-longest, non-overlapping.

        ``scope``: None matches global entries only; a set of library names adds entries scoped to them
        (a scoped entry wins over a global one with the same surface).
        """
        if not text or (self._fast is None and self._automaton is None):
            return []
        norm, omap = self.folder.normalize(text)
        marked = mark_words(norm)
        if self._fast is not None and (scope is None or not self._scoped):
            ids = self._fast_ids
            spans = [(s, e, ids[i]) for i, s, e in self._fast.find_matches_as_indexes(marked)]
        else:
            spans = self._find_exact(marked, frozenset(scope) if scope is not None else None)
        return _map_back(spans, omap, len(norm))

    def _find_exact(self, marked: str, scope: frozenset[str] | None) -> list[Span]:
        """Every key occurrence (pyahocorasick), filtered by scope, then leftmost-longest in Python."""
        if self._automaton is None:
            return []
        out: list[tuple[int, int, int]] = []
        append = out.append
        # Hot loop: locals and tuple unpacking only (boundaries are already enforced by the marking).
        for last, (length, _, _, glob, scoped) in self._automaton.iter(marked):
            if scoped and scope is not None:
                glob = _pick(scoped, glob, scope)
            if glob >= 0:
                append((last - length + 1, -last - 1, glob))
        return _leftmost_longest(out)

    def find_in_query(self, query: str) -> list[Span]:
        """Entries whose surfaces (highlight or search) occur in a short query, any scope."""
        norm, omap = self.folder.normalize(query)
        n, keys, maxlen = len(norm), self.query_keys, self._query_max
        out: list[tuple[int, int, int]] = []
        i = 0
        while i < n:
            hit = _longest_at(norm, i, keys, maxlen)
            if hit is None:
                i += 1
                continue
            end, (_, _, _, glob, scoped) = hit
            out.append((i, end, glob if glob >= 0 else scoped[0][1]))
            i = end
        return _map_back(out, omap, n)

    def entries_for_key(self, norm: str) -> list[int]:
        """Every approved entry (any scope) that has ``norm`` as a query key."""
        value = self.query_keys.get(norm)
        if value is None:
            return []
        _, _, _, glob, scoped = value
        return ([glob] if glob >= 0 else []) + [i for _, i in scoped]


def _fast_automaton(marked: list[str], values: list[_Value]) -> tuple[object | None, list[int]]:
    """A leftmost-longest ``ahocorasick_rs`` automaton over the global keys, and the entry of each pattern."""
    if ahocorasick_rs is None:
        return None, []
    pairs = [(m, v[3]) for m, v in zip(marked, values, strict=True) if v[3] >= 0]
    if not pairs:
        return None, []
    kind = ahocorasick_rs.MatchKind.LeftmostLongest
    return ahocorasick_rs.AhoCorasick([m for m, _ in pairs], matchkind=kind), [i for _, i in pairs]


def _exact_automaton(marked: list[str], values: list[_Value]) -> ahocorasick.Automaton | None:
    """A pyahocorasick automaton over every highlight key (any scope), reporting overlapping matches."""
    if not marked:
        return None
    a = ahocorasick.Automaton()
    for m, v in zip(marked, values, strict=True):
        a.add_word(m, v)
    a.make_automaton()
    return a


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while allocating hundreds of thousands of small objects (3x faster builds)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _pick(scoped: tuple[tuple[frozenset[str], int], ...], glob: int, scope: frozenset[str]) -> int:
    for libs, idx in scoped:
        if libs & scope:
            return idx
    return glob


def _longest_at(norm: str, i: int, keys: dict[str, tuple], maxlen: int) -> tuple[int, tuple] | None:
    """The longest key starting at ``i`` that respects word boundaries (for short queries only)."""
    n = len(norm)
    if i > 0 and is_word_char(norm[i - 1]) and is_word_char(norm[i]):
        return None
    for end in range(min(n, i + maxlen), i, -1):
        key = keys.get(norm[i:end])
        if key is None:
            continue
        if key[2] and end < n and is_word_char(norm[end]):
            continue
        return end, key
    return None


def _leftmost_longest(cands: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Greedy selection: sorted by start then length (descending), keep what does not overlap."""
    cands.sort()
    out: list[tuple[int, int, int]] = []
    last_end = -1
    for start, neg_end, idx in cands:
        if start >= last_end:
            last_end = -neg_end
            out.append((start, last_end, idx))
    return out


def _map_back(spans: list[tuple[int, int, int]], omap: OffsetMap | None, n: int) -> list[Span]:
    """Normalised spans -> original code points; a span cutting an expanded character is dropped."""
    if omap is None:
        return spans
    starts = omap.map_sorted([s for s, _, _ in spans])
    ends = omap.map_sorted([e - 1 for _, e, _ in spans])
    out: list[Span] = []
    for (_, e, i), (os_, split_s), (oe, _) in zip(spans, starts, ends, strict=True):
        # A match may not begin or end inside a character that expanded ("ﬁ" -> "fi").
        if split_s or (e < n and omap.splits(e)):
            continue
        out.append((os_, oe + 1, i))
    return out
