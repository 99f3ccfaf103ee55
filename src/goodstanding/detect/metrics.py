"""Binary classification figures for `goodstanding eval` and the training report."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Figures:
    n_pos: int
    n_neg: int
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float
    recall: float
    f1: float
    auprc: float | None  # undefined without both classes

    def as_dict(self) -> dict:
        return asdict(self)


def figures(scores: np.ndarray, labels: np.ndarray, threshold: float) -> Figures:
    y = labels.astype(bool)
    pred = scores >= threshold
    tp, fp = int((pred & y).sum()), int((pred & ~y).sum())
    fn, tn = int((~pred & y).sum()), int((~pred & ~y).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Figures(int(y.sum()), int((~y).sum()), tp, fp, fn, tn,
                   round(precision, 4), round(recall, 4), round(f1, 4), auprc(scores, y))


def auprc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Average precision (step-wise area under the precision-recall curve), ties grouped."""
    y = labels.astype(bool)
    if y.all() or not y.any():
        return None
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # end of each tie group
    tp = np.cumsum(y)[last]
    precision = tp / (last + 1)
    recall_gain = np.diff(np.r_[0, tp]) / y.sum()
    return round(float((precision * recall_gain).sum()), 4)


def recall_at_fpr(scores: np.ndarray, labels: np.ndarray, fpr: float) -> float:
    """Recall at the strictest threshold whose false-positive rate is at most `fpr`."""
    y = labels.astype(bool)
    neg = np.sort(scores[~y])[::-1]
    k = int(np.floor(fpr * len(neg)))
    cut = neg[k] if k < len(neg) else -np.inf
    return round(float((scores[y] > cut).mean()), 4) if y.any() else 0.0
