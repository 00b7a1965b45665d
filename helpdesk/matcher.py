"""In-memory hybrid FAQ matcher of one desk: embedding kNN over question variants, character n-gram TF-IDF and
BM25, aggregated per FAQ with numpy (no Python loop over entries).

Each FAQ contributes *entries*: its question and variants (embedded as queries, since a user's question is
matched symmetrically against them), and its answer (embedded as a passage, and split into lines for lexical
matching). A query is scored against every entry in one matrix product:

    entry score = cos(query, entry) - HUB_BETA * hub(entry) + LEX_WEIGHT * tfidf(query, entry)

``hub(entry)`` is the mean cosine of the entry to its ``HUB_K`` nearest other entries of the desk (a
CSLS-style hubness correction, computed once when the index is built): generic variants that sit close to
everything stop winning every query. ``tfidf`` is the cosine of character 2-5-gram TF-IDF vectors of the
normalised texts (Traditional Chinese folded to Simplified), which works for English and Chinese alike.
Entries are then aggregated per FAQ as the mean of its top-k entry scores, k = n_entries // 5 clipped to
[1, TOP_K] (so an FAQ with many paraphrase variants is not favoured merely for having one lucky neighbour,
while an FAQ whose few questions are distinct keeps its best one); the answer channel competes through a max.
The hubness correction is applied on intent-style desks only (median entries per FAQ >= 10): there an
entry's neighbours are mostly its own paraphrases; on a desk of one or a few distinct questions per FAQ it
would instead penalise FAQs in crowded topics, which measured worse (E.SUN, see the benchmark results).
The result carries the features the confidence model needs.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from kb.analysis import normalize

Tokenize = Callable[[str], list[str]]

# Chosen on BANKING77 train (10% held out) and CLINC150 validation; see benchmarks/results/helpdesk.md.
TOP_K = 5  # at most this many entry scores averaged per FAQ ...
VARIANTS_PER_K = 5  # ... and one per this many of its entries (an FAQ of distinct questions keeps the max)
HUB_K = 10  # neighbours in the hubness estimate of an entry
HUB_BETA = 0.5  # weight of the hubness correction ...
HUB_MIN_VARIANTS = 10  # ... applied on intent-style desks only: median entries per FAQ at least this
LEX_WEIGHT = 0.05  # weight of the character n-gram TF-IDF cosine in an entry score
ANSWER_PENALTY = 0.04  # a query-to-answer cosine is worth slightly less than a query-to-question one
VOTE_K = 10  # nearest entries in the kNN-vote features
BM25_K1, BM25_B = 1.2, 0.75
NGRAMS = (2, 5)
HUB_BLOCK = 2048  # rows per block of the entry-by-entry similarity product


@dataclass
class FaqText:
    """What the matcher needs of one FAQ."""

    faq_id: str
    questions: list[str]  # the question first, then its variants
    answer: str = ""
    answer_parts: list[str] | None = None  # the answer split into passages (None: the answer as one passage)

    def passages(self) -> list[str]:
        """The answer's passages as matched (at least one, possibly empty)."""
        return self.answer_parts or [self.answer]


@dataclass
class Candidate:
    """One FAQ scored against a query."""

    faq_id: str
    score: float
    cos_q: float
    cos_a: float
    bm25: float
    coverage: float
    best_question: str


@dataclass
class MatchResult:
    """Ranked candidates plus the query-level features of the confidence model."""

    candidates: list[Candidate]
    features: dict[str, float] = field(default_factory=dict)


def char_ngrams(text: str, lo: int = NGRAMS[0], hi: int = NGRAMS[1]) -> list[str]:
    """Character n-grams of each whitespace-separated word padded with spaces (scikit-learn's ``char_wb``)."""
    out: list[str] = []
    for word in normalize(text).split():
        padded = f" {word} "
        for n in range(lo, hi + 1):
            out.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return out


class CharTfidf:
    """Cosine of sublinear TF-IDF vectors over character n-grams, stored term-major (CSC) and scored with
    one gather and one ``bincount`` per query."""

    def __init__(self, docs: Sequence[str]) -> None:
        self.n = len(docs)
        counts = [Counter(char_ngrams(d)) for d in docs]
        df = Counter(g for c in counts for g in c)
        self.vocab = {g: i for i, g in enumerate(df)}
        self.idf = np.array([math.log((1 + self.n) / (1 + f)) + 1.0 for f in df.values()], dtype=np.float32)
        rows: list[tuple[int, int, float]] = []
        for doc, c in enumerate(counts):
            terms = np.array([self.vocab[g] for g in c], dtype=np.int64)
            w = (1 + np.log(np.array(list(c.values()), dtype=np.float32))) * self.idf[terms]
            w /= max(float(np.linalg.norm(w)), 1e-12)
            rows.extend(zip(terms.tolist(), [doc] * len(terms), w.tolist(), strict=True))
        rows.sort()
        term = np.array([r[0] for r in rows], dtype=np.int64)
        self.doc = np.array([r[1] for r in rows], dtype=np.int64)
        self.weight = np.array([r[2] for r in rows], dtype=np.float32)
        self.indptr = np.searchsorted(term, np.arange(len(self.vocab) + 1))

    def scores(self, text: str) -> np.ndarray:
        """Cosine of ``text`` with every document (float32, length n)."""
        c = Counter(g for g in char_ngrams(text) if g in self.vocab)
        if not c or not self.n:
            return np.zeros(self.n, dtype=np.float32)
        terms = np.array([self.vocab[g] for g in c], dtype=np.int64)
        q = (1 + np.log(np.array(list(c.values()), dtype=np.float32))) * self.idf[terms]
        q /= max(float(np.linalg.norm(q)), 1e-12)
        lo, lens = self.indptr[terms], self.indptr[terms + 1] - self.indptr[terms]
        ends = np.cumsum(lens)
        pos = np.arange(int(ends[-1])) + np.repeat(lo - (ends - lens), lens)  # concatenated posting ranges
        w = self.weight[pos] * np.repeat(q, lens)
        return np.bincount(self.doc[pos], weights=w, minlength=self.n).astype(np.float32)


class Bm25:
    """A small in-memory BM25 over token lists (enough for thousands of FAQ entries)."""

    def __init__(self, docs: Sequence[list[str]]) -> None:
        self.n = len(docs)
        self.lengths = np.array([len(d) for d in docs], dtype=np.float32)
        self.avgdl = float(self.lengths.mean()) if self.n else 1.0
        postings: dict[str, list[tuple[int, int]]] = {}
        for i, d in enumerate(docs):
            for term, tf in Counter(d).items():
                postings.setdefault(term, []).append((i, tf))
        self.postings = {
            t: (np.array([i for i, _ in p], dtype=np.int64), np.array([f for _, f in p], dtype=np.float32))
            for t, p in postings.items()
        }
        self.doc_terms = [set(d) for d in docs]
        self.norm = BM25_K1 * (1 - BM25_B + BM25_B * self.lengths / max(self.avgdl, 1e-6))

    def idf(self, term: str) -> float:
        """Robertson-Sparck Jones idf, floored at a small positive value."""
        df = len(self.postings[term][0]) if term in self.postings else 0
        return max(math.log(1 + (self.n - df + 0.5) / (df + 0.5)), 1e-3)

    def scores(self, terms: list[str]) -> np.ndarray:
        """BM25 score of every document for the distinct ``terms``."""
        uniq = [t for t in dict.fromkeys(terms) if t in self.postings]
        if not uniq:
            return np.zeros(self.n, dtype=np.float32)
        ids = np.concatenate([self.postings[t][0] for t in uniq])
        parts = []
        for t in uniq:
            i, tf = self.postings[t]
            parts.append(self.idf(t) * tf * (BM25_K1 + 1) / (tf + self.norm[i]))
        return np.bincount(ids, weights=np.concatenate(parts), minlength=self.n).astype(np.float32)

    def coverage(self, terms: list[str], doc: int) -> float:
        """Idf-weighted share of the query terms that occur in document ``doc`` (1.0 = all of them)."""
        uniq = list(dict.fromkeys(terms))
        if not uniq:
            return 0.0
        weights = [self.idf(t) for t in uniq]
        hit = sum(w for t, w in zip(uniq, weights, strict=True) if t in self.doc_terms[doc])
        return hit / sum(weights)


def hubness(vecs: np.ndarray, k: int = HUB_K) -> np.ndarray:
    """Mean cosine of each row to its ``k`` nearest other rows (0 when there are too few rows)."""
    n = len(vecs)
    k = min(k, n - 1)
    if k < 1:
        return np.zeros(n, dtype=np.float32)
    out = np.empty(n, dtype=np.float32)
    for lo in range(0, n, HUB_BLOCK):
        sims = vecs[lo : lo + HUB_BLOCK] @ vecs.T
        sims[np.arange(len(sims)), np.arange(lo, lo + len(sims))] = -np.inf
        out[lo : lo + len(sims)] = np.partition(sims, n - k, axis=1)[:, n - k :].mean(axis=1)
    return out


def _per_group_max(
    values: np.ndarray, starts: np.ndarray, owner: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Max of each contiguous group and the index achieving it."""
    best = np.maximum.reduceat(values, starts)
    hit = np.flatnonzero(values == best[owner])
    arg = np.full(len(starts), -1, dtype=np.int64)
    arg[owner[hit[::-1]]] = hit[::-1]  # reversed: the first index of a tie wins
    return best, arg


class FaqIndex:
    """Entries of a desk's FAQs with their token lists and vectors; ``match`` ranks FAQs for a query."""

    def __init__(
        self,
        faqs: Sequence[FaqText],
        tokenize: Tokenize,
        question_vecs: np.ndarray | None,
        answer_vecs: np.ndarray | None,
        top_k: int = TOP_K,
        hub_beta: float = HUB_BETA,
        lex_weight: float = LEX_WEIGHT,
        hub_k: int = HUB_K,
    ) -> None:
        self.top_k, self.hub_beta, self.lex_weight = top_k, hub_beta, lex_weight
        self.faqs = [f if f.questions else FaqText(f.faq_id, [f.faq_id], f.answer) for f in faqs]
        self.tokenize = tokenize
        self.entry_text = [q for f in self.faqs for q in f.questions]
        self.owner = np.repeat(np.arange(len(self.faqs)), [len(f.questions) for f in self.faqs])
        self.starts = np.searchsorted(self.owner, np.arange(len(self.faqs)))
        self.bm25_q = Bm25([tokenize(t) for t in self.entry_text])
        answers = [a for f in self.faqs for a in f.passages()]
        self.a_owner = np.repeat(np.arange(len(self.faqs)), [len(f.passages()) for f in self.faqs])
        self.a_starts = np.searchsorted(self.a_owner, np.arange(len(self.faqs)))
        self.bm25_a = Bm25([tokenize(a) for a in answers])
        self.tfidf_q = CharTfidf(self.entry_text) if lex_weight else None
        self.tfidf_a = CharTfidf(answers) if lex_weight and any(answers) else None
        ok = question_vecs is not None and len(question_vecs) == len(self.entry_text) and len(self.entry_text)
        self.qvecs = np.ascontiguousarray(question_vecs, dtype=np.float32) if ok else None
        a_ok = ok and answer_vecs is not None and len(answer_vecs) == len(answers)
        self.avecs = np.ascontiguousarray(answer_vecs, dtype=np.float32) if a_ok else None
        sizes = np.array([len(f.questions) for f in self.faqs])
        self.k_per_faq = np.clip(sizes // VARIANTS_PER_K, 1, None)
        intent_desk = len(sizes) > 0 and float(np.median(sizes)) >= HUB_MIN_VARIANTS
        self.hub = hubness(self.qvecs, hub_k) if self.qvecs is not None and intent_desk else None

    def __len__(self) -> int:
        return len(self.faqs)

    def _topk_mean(self, scores: np.ndarray) -> np.ndarray:
        """Mean of the top-k entry scores of each FAQ (fewer if it has fewer), vectorised."""
        k = np.minimum(self.k_per_faq, max(self.top_k, 1))
        if int(k.max(initial=1)) <= 1:
            return np.maximum.reduceat(scores, self.starts)
        span = float(scores.max() - scores.min()) + 1.0
        order = np.argsort(self.owner * span - scores.astype(np.float64), kind="stable")
        rank = np.arange(len(order)) - self.starts[self.owner]  # owner is sorted, so order keeps groups
        keep = order[rank < k[self.owner]]
        total = np.bincount(self.owner[keep], weights=scores[keep], minlength=len(self.faqs))
        return (total / k).astype(np.float32)

    def _entry_scores(self, query: str, qvec: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(fused entry scores, raw entry cosines, answer-channel scores per FAQ)."""
        n_e, n_a, n = len(self.entry_text), len(self.a_owner), len(self.faqs)
        lex_q = self.tfidf_q.scores(query) if self.tfidf_q else np.zeros(n_e, np.float32)
        lex_a = self.tfidf_a.scores(query) if self.tfidf_a else np.zeros(n_a, np.float32)
        cos = self.qvecs @ qvec
        fused = cos + self.lex_weight * lex_q
        if self.hub is not None:
            fused = fused - self.hub_beta * self.hub
        if self.avecs is not None:
            cos_a = np.maximum.reduceat(self.avecs @ qvec, self.a_starts)
            ans = cos_a - ANSWER_PENALTY + self.lex_weight * np.maximum.reduceat(lex_a, self.a_starts)
            if self.hub is not None:
                ans = ans - self.hub_beta * float(np.median(self.hub))
        else:
            cos_a = np.zeros(n, np.float32)
            ans = np.full(n, -np.inf, np.float32)
        return fused, cos, np.stack([ans, cos_a])

    def match(self, query: str, qvec: np.ndarray | None, limit: int = 5) -> MatchResult:
        """Rank the FAQs for ``query`` (``qvec``: its unit query embedding, None when embeddings are off)."""
        if not self.faqs:
            return MatchResult([], empty_features())
        terms = self.tokenize(query)
        bq_faq, bq_arg = _per_group_max(self.bm25_q.scores(terms), self.starts, self.owner)
        lex = np.maximum(bq_faq, 0.5 * np.maximum.reduceat(self.bm25_a.scores(terms), self.a_starts))
        use_vec = qvec is not None and self.qvecs is not None
        if use_vec:
            fused, cos, (ans, cos_a) = self._entry_scores(query, np.asarray(qvec, dtype=np.float32))
            score = np.maximum(self._topk_mean(fused), ans)
            cos_max, cos_arg = _per_group_max(cos, self.starts, self.owner)
        else:
            score = lex / lex.max() if lex.max() > 0 else lex
            cos = cos_max = cos_a = np.zeros(len(self.faqs), np.float32)
            cos_arg = bq_arg
        top = _top(score, max(limit, 2))
        cands = [self._candidate(int(p), score, cos_max, cos_a, lex, cos_arg, bq_arg, terms) for p in top]
        feats = features(cands, agree=bool(use_vec and int(top[0]) == int(np.argmax(lex))))
        if use_vec:
            feats.update(self._vote_features(cos, int(top[0])))
        return MatchResult(cands[:limit], feats)

    def _candidate(
        self,
        pos: int,
        score: np.ndarray,
        cos_max: np.ndarray,
        cos_a: np.ndarray,
        lex: np.ndarray,
        cos_arg: np.ndarray,
        bq_arg: np.ndarray,
        terms: list[str],
    ) -> Candidate:
        entry = int(cos_arg[pos])
        return Candidate(
            faq_id=self.faqs[pos].faq_id,
            score=float(score[pos]),
            cos_q=float(cos_max[pos]),
            cos_a=float(cos_a[pos]),
            bm25=float(lex[pos]),
            coverage=self.bm25_q.coverage(terms, int(bq_arg[pos])) if bq_arg[pos] >= 0 else 0.0,
            best_question=self.entry_text[entry] if entry >= 0 else self.faqs[pos].questions[0],
        )

    def _vote_features(self, cos: np.ndarray, top: int) -> dict[str, float]:
        """kNN-vote features: share of the nearest entries owned by the top FAQ, vote entropy, mean cosine."""
        k = min(VOTE_K, len(cos))
        near = np.argpartition(-cos, k - 1)[:k]
        owners = self.owner[near]
        _, counts = np.unique(owners, return_counts=True)
        p = counts / k
        return {
            "vote_share": float(np.mean(owners == top)),
            "vote_entropy": float(-(p * np.log(p)).sum()),
            "cos_knn": float(cos[near].mean()),
        }


def _top(score: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first (ties by position)."""
    if len(score) > 4 * k:
        part = np.argpartition(-score, k - 1)[:k]
        return part[np.lexsort((part, -score[part]))]
    return np.argsort(-score, kind="stable")[:k]


FEATURES = ("score", "margin", "cos", "cos_margin", "coverage", "agree")
VOTE_FEATURES = ("vote_share", "vote_entropy", "cos_knn")


def empty_features() -> dict[str, float]:
    """Features of a query against an empty desk (nothing can be answered)."""
    return dict.fromkeys(FEATURES + VOTE_FEATURES, 0.0)


def features(cands: list[Candidate], agree: bool) -> dict[str, float]:
    """Query-level features of the confidence model, from the ranked candidates."""
    if not cands:
        return empty_features()
    c1 = cands[0]
    c2 = cands[1] if len(cands) > 1 else None
    return {
        "score": c1.score,
        "margin": c1.score - (c2.score if c2 else 0.0),
        "cos": max(c1.cos_q, c1.cos_a - ANSWER_PENALTY),
        "cos_margin": c1.cos_q - (c2.cos_q if c2 else 0.0),
        "coverage": c1.coverage,
        "agree": 1.0 if agree else 0.0,
        **dict.fromkeys(VOTE_FEATURES, 0.0),
    }
