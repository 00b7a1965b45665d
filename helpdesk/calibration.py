"""Confidence calibration: a logistic model from matcher features to P(the top answer is right), and the
choice of a threshold that meets a target precision with the most coverage.

Logistic regression (Platt-style, on several features) is fitted by Newton's method with a small L2 penalty,
in numpy; a dev set of a few dozen questions is enough for its handful of coefficients.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from helpdesk.matcher import FEATURES, VOTE_FEATURES

# Used before a desk is calibrated: driven by the best cosine (e5 puts paraphrases around 0.9 and unrelated
# questions below 0.85), nudged by lexical coverage and the margin over the runner-up.
DEFAULT_MODEL = {
    "features": list(FEATURES),  # the kNN-vote features are left to a fitted model
    "mean": [0.0] * len(FEATURES),
    "scale": [1.0] * len(FEATURES),
    "coef": [0.0, 6.0, 40.0, 0.0, 3.0, 0.5],
    "intercept": -37.0,
}
# Without embeddings the cosine features are zero: lexical coverage and margin decide.
LEXICAL_MODEL = {**DEFAULT_MODEL, "coef": [0.0, 4.0, 0.0, 0.0, 10.0, 0.0], "intercept": -7.0}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


def predict(model: dict, feats: dict[str, float]) -> float:
    """P(correct) for one query's features."""
    x = np.array([feats.get(n, 0.0) for n in model["features"]], dtype=np.float64)
    z = (x - np.array(model["mean"])) / np.array(model["scale"])
    return float(_sigmoid(np.array(z @ np.array(model["coef"]) + model["intercept"])))


def fit(rows: Sequence[dict[str, float]], labels: Sequence[int], l2: float = 1.0) -> dict:
    """Fit a logistic model on feature dicts and 0/1 labels (features standardised first)."""
    names = list(FEATURES + VOTE_FEATURES)
    x = np.array([[r.get(n, 0.0) for n in names] for r in rows], dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    xs = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(xs.shape[1])
    reg = np.eye(xs.shape[1]) * l2
    reg[-1, -1] = 0.0  # the intercept is not penalised
    for _ in range(50):
        p = _sigmoid(xs @ w)
        grad = xs.T @ (p - y) + reg @ w
        hess = (xs * (p * (1 - p))[:, None]).T @ xs + reg + np.eye(len(w)) * 1e-9
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return {
        "features": names,
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "coef": w[:-1].tolist(),
        "intercept": float(w[-1]),
    }


def cross_val_predict(rows: Sequence[dict[str, float]], labels: Sequence[int], folds: int = 5) -> list[float]:
    """Out-of-fold probabilities (so the threshold is not chosen on in-sample optimism)."""
    n = len(rows)
    if n < 2 * folds or len(set(labels)) < 2:
        model = fit(rows, labels) if len(set(labels)) > 1 else None
        return [predict(model, r) if model else float(labels[0]) for r in rows]
    out = [0.0] * n
    for k in range(folds):
        test = [i for i in range(n) if i % folds == k]
        train = [i for i in range(n) if i % folds != k]
        ys = [labels[i] for i in train]
        if len(set(ys)) < 2:
            for i in test:
                out[i] = float(ys[0])
            continue
        model = fit([rows[i] for i in train], ys)
        for i in test:
            out[i] = predict(model, rows[i])
    return out


@dataclass
class CurvePoint:
    """Answering every question with confidence >= threshold gives this precision and coverage."""

    threshold: float
    precision: float
    coverage: float
    answered: int


def curve(probs: Sequence[float], correct: Sequence[int]) -> list[CurvePoint]:
    """Precision/coverage at each distinct probability used as the threshold (highest first)."""
    order = sorted(range(len(probs)), key=lambda i: -probs[i])
    points: list[CurvePoint] = []
    hits = 0
    n = len(probs)
    for rank, i in enumerate(order, start=1):
        hits += correct[i]
        nxt = probs[order[rank]] if rank < n else -1.0
        if nxt < probs[i]:  # last of a tie group: a threshold here answers all of it
            points.append(CurvePoint(probs[i], hits / rank, rank / n, rank))
    return points


def choose_threshold(points: Sequence[CurvePoint], target: float) -> tuple[float, bool]:
    """The lowest threshold whose precision reaches ``target`` (most coverage); (threshold, reached).

    If no threshold reaches the target, the most precise one is returned with ``reached`` False.
    """
    ok = [p for p in points if p.precision >= target]
    if ok:
        best = max(ok, key=lambda p: (p.coverage, -p.threshold))
        return _just_below(best.threshold, points), True
    if not points:
        return 1.0, False
    best = max(points, key=lambda p: (p.precision, p.coverage))
    return _just_below(best.threshold, points), False


def _just_below(threshold: float, points: Sequence[CurvePoint]) -> float:
    """A threshold a hair under ``threshold`` but above the next lower probability, rounded for display."""
    lower = [p.threshold for p in points if p.threshold < threshold]
    floor = max(lower) if lower else 0.0
    mid = (threshold + floor) / 2 if lower else threshold
    t = math.floor(mid * 1e4) / 1e4
    return t if floor < t <= threshold else threshold
