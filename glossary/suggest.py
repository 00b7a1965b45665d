"""Term suggestions: frequent phrases of the indexed corpus that look like terms and are not yet defined.

Chinese: the text is segmented with a private jieba tokenizer (its HMM finds unknown words), then runs of
1-4 words (3-12 characters, no function word at either end) are counted; a candidate must be seen with
several different left and right neighbours (a free-standing unit, not a fragment) and is dropped when a
longer candidate accounts for most of its occurrences. English: acronyms ("KYC", "LPR"), capitalised
multi-word names ("Loan Review Committee") and lower-case 2-3 word phrases without stop words.
Each suggestion carries up to two example sentences from the corpus.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kb.analysis import EN_STOP, ZH_STOP

_CJK_RUN = re.compile("[\u3400-\u9fff\uf900-\ufaff]+")
_SENTENCE = re.compile(r"[^。！？!?；;\n]+[。！？!?；;]?")
_ACRONYM = re.compile(r"\b[A-Z][A-Z0-9&]{1,6}s?\b")
_CAPS_PHRASE = re.compile(r"\b[A-Z][a-z]+(?:[ -](?:of |and |for |the |on )?[A-Z][a-z]+){1,4}\b")
_WORD = re.compile(r"[A-Za-z][A-Za-z-]*[A-Za-z]")
# Characters that never start or end a Chinese term (function words, ordinal and legal-structure words).
_ZH_EDGE = frozenset(
    "的了是在和与及或等也都就而之其以于为被把让着过吗呢吧啊呀么这那此该本各每某条款项章节第个"
)
_EN_EXTRA_STOP = frozenset(
    [
        "also",
        "any",
        "all",
        "may",
        "must",
        "shall",
        "should",
        "can",
        "could",
        "would",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "what",
        "how",
        "than",
        "other",
        "such",
        "each",
        "more",
        "most",
        "its",
        "his",
        "her",
        "our",
        "your",
        "we",
        "you",
        "he",
        "she",
        "i",
        "one",
        "two",
        "new",
        "use",
        "used",
        "using",
    ]
)


@dataclass
class Candidate:
    """A suggested term with its evidence."""

    term: str
    language: str
    count: int = 0
    documents: set[int] = field(default_factory=set)
    left: set[str] = field(default_factory=set)
    right: set[str] = field(default_factory=set)
    examples: list[str] = field(default_factory=list)

    def score(self) -> float:
        """Frequency, spread over documents, and length (longer phrases are more specific)."""
        return self.count * math.log2(1 + len(self.documents)) * math.log2(2 + len(self.term))

    def to_dict(self) -> dict:
        """JSON form."""
        return {
            "term": self.term,
            "language": self.language,
            "count": self.count,
            "documents": len(self.documents),
            "examples": self.examples,
        }


class Suggester:
    """Counts candidates over documents, then ranks the ones not already in the glossary."""

    def __init__(self, min_count: int = 3) -> None:
        import jieba

        self.min_count = min_count
        self._jieba = jieba.Tokenizer()
        self.cands: dict[str, Candidate] = {}

    def _cand(self, term: str, lang: str, doc: int) -> Candidate:
        # English forms are counted together regardless of case; the display keeps a capitalised form.
        key = term.lower() if lang == "en" else term
        c = self.cands.get(key)
        if c is None:
            c = self.cands[key] = Candidate(term, lang)
        elif term != c.term and c.term.islower():
            c.term = term
        c.count += 1
        c.documents.add(doc)
        return c

    def add_document(self, doc: int, text: str) -> None:
        """Count the candidates of one document."""
        for run in _CJK_RUN.findall(text):
            self._chinese(doc, run)
        self._english(doc, text)

    def _chinese(self, doc: int, run: str) -> None:
        words = [w for w in self._jieba.cut(run, HMM=True) if w.strip()]
        for i in range(len(words)):
            for n in (1, 2, 3, 4):
                if i + n > len(words):
                    break
                term = "".join(words[i : i + n])
                if not 3 <= len(term) <= 12 or term[0] in _ZH_EDGE or term[-1] in _ZH_EDGE:
                    continue
                if words[i] in ZH_STOP or words[i + n - 1] in ZH_STOP:
                    continue
                c = self._cand(term, "zh", doc)
                c.left.add(words[i - 1] if i else "^")
                c.right.add(words[i + n] if i + n < len(words) else "$")

    def _english(self, doc: int, text: str) -> None:
        for m in _ACRONYM.finditer(text):
            word = (
                m.group().rstrip("s") if m.group().endswith("s") and m.group()[:-1].isupper() else m.group()
            )
            if word.lower() not in EN_STOP and len(word) >= 2:
                self._mark(self._cand(word, "en", doc), "^", "$")
        for m in _CAPS_PHRASE.finditer(text):
            self._mark(self._cand(m.group(), "en", doc), "^", "$")
        self._english_ngrams(doc, text)

    @staticmethod
    def _mark(c: Candidate, left: str, right: str) -> None:
        c.left.add(left)
        c.right.add(right)

    def _english_ngrams(self, doc: int, text: str) -> None:
        words = [w.lower() for w in _WORD.findall(text)]
        stop = EN_STOP | _EN_EXTRA_STOP
        for i in range(len(words)):
            for n in (2, 3):
                gram = words[i : i + n]
                if len(gram) < n or gram[0] in stop or gram[-1] in stop or any(len(w) < 3 for w in gram):
                    continue
                c = self._cand(" ".join(gram), "en", doc)
                self._mark(c, words[i - 1] if i else "^", words[i + n] if i + n < len(words) else "$")

    def ranked(self, known: Callable[[str], bool], top: int) -> list[Candidate]:
        """The best ``top`` candidates: frequent, free-standing, not subsumed, not already defined."""
        ok = [
            c
            for c in self.cands.values()
            if c.count >= self.min_count and len(c.left) >= 2 and len(c.right) >= 2 and not known(c.term)
        ]
        ok = _drop_subsumed(ok)
        ok.sort(key=lambda c: (-c.score(), c.term))
        return ok[:top]


def _drop_subsumed(cands: list[Candidate]) -> list[Candidate]:
    """Drop a candidate when a longer one containing it covers at least 80% of its occurrences."""
    by_len = sorted(cands, key=lambda c: -len(c.term))
    kept: list[Candidate] = []
    index: dict[str, list[Candidate]] = defaultdict(list)
    for c in by_len:
        # Any longer term containing c contains c's first two characters: only those are compared.
        longer = [k for k in index.get(c.term[:2], []) if c.term in k.term]
        if any(k.count >= 0.8 * c.count for k in longer):
            continue
        kept.append(c)
        for i in range(len(c.term) - 1):
            index[c.term[i : i + 2]].append(c)
    return kept


def add_examples(cands: list[Candidate], texts: Iterable[str], per_term: int = 2) -> None:
    """Fill each candidate's example sentences (first sentences that contain it)."""
    todo = {c.term: c for c in cands}
    lower = {c.term.lower(): c for c in cands if c.language == "en"}
    for text in texts:
        if not todo:
            return
        for sent in _SENTENCE.findall(text):
            s = " ".join(sent.split())
            if len(s) < 6:
                continue
            hits = [c for t, c in todo.items() if t in s]
            hits += [c for t, c in lower.items() if t in s.lower() and c.term not in s]
            for c in hits:
                if len(c.examples) < per_term and s[:300] not in c.examples:
                    c.examples.append(s[:300])
        todo = {t: c for t, c in todo.items() if len(c.examples) < per_term}


def count_words(texts: Iterable[str]) -> Counter:
    """Word frequencies of texts (a helper for benchmarks that need a Chinese term list)."""
    s = Suggester()
    for i, t in enumerate(texts):
        s.add_document(i, t)
    return Counter({t: c.count for t, c in s.cands.items()})
