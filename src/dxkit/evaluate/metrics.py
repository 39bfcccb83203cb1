"""Accuracy and calibration metrics over predicted probabilities.

Every metric is a pure function of arrays so the same code scores a notebook experiment, the
CLI ``evaluate`` command and a subgroup of patients. Inputs are checked up front and a bad
input raises :class:`ValueError` that says what was expected and what was found: a silently
broadcast shape or an unnormalised score matrix would otherwise give a plausible but wrong
number.

Conventions shared by all functions:

* ``proba`` has shape ``(n_cases, n_classes)``; every row is a probability distribution
  (non-negative, summing to 1 within :data:`SUM_TOL`).
* ``y_true`` holds integer class indices in ``[0, n_classes)``. The index ``-1`` (:data:`UNSEEN`)
  marks a case whose true condition is not among the model's labels; such a case is always
  scored as wrong, and the model is taken to have put probability 0 on its true condition.
* The predicted class is the arg-max of a row (ties go to the lowest index).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

SUM_TOL = 1e-3  # rows must sum to 1 within this; float32 softmax drifts ~1e-6 per row
UNSEEN = -1  # class index for a true condition the model has no column for

__all__ = [
    "SUM_TOL",
    "UNSEEN",
    "ReliabilityBins",
    "balanced_accuracy",
    "brier_score",
    "check_inputs",
    "expected_calibration_error",
    "macro_f1",
    "negative_log_likelihood",
    "reliability_bins",
    "top_k_accuracy",
]


def _fail(what: str, expected: str, found: str) -> ValueError:
    return ValueError(f"{what}: expected {expected}; found {found}")


def _check_labels(y_true: npt.ArrayLike, n: int | None, n_classes: int | None) -> np.ndarray:
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise _fail("y_true", "a 1-D array of class indices", f"shape {y.shape}")
    if n is not None and y.shape[0] != n:
        raise _fail("y_true", f"{n} labels (one per row of proba)", f"{y.shape[0]} labels")
    if y.shape[0] == 0:
        raise _fail("y_true", "at least one case", "0 cases")
    if not np.issubdtype(y.dtype, np.integer):
        raise _fail("y_true", "integer class indices", f"dtype {y.dtype}")
    if n_classes is not None and (y.min() < UNSEEN or y.max() >= n_classes):
        raise _fail(
            "y_true",
            f"class indices in [0, {n_classes}) or {UNSEEN} for an unseen label",
            f"values from {int(y.min())} to {int(y.max())}",
        )
    return y.astype(np.int64)


def _check_proba(proba: npt.ArrayLike) -> np.ndarray:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] == 0:
        raise _fail("proba", "a 2-D array (n_cases, n_classes)", f"shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise _fail("proba", "finite probabilities", "NaN or infinite values")
    if p.size and p.min() < -SUM_TOL:
        raise _fail("proba", "non-negative probabilities", f"minimum {p.min():.4g}")
    sums = p.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > SUM_TOL)
    if bad.size:
        raise _fail(
            "proba",
            f"rows summing to 1 (within {SUM_TOL})",
            f"{bad.size} row(s) off, e.g. row {bad[0]} sums to {sums[bad[0]]:.4g}; "
            "apply softmax or normalise the scores",
        )
    return np.clip(p, 0.0, 1.0)


def check_inputs(y_true: npt.ArrayLike, proba: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate a label vector against a probability matrix; return them as clean arrays.

    Exposed so that other evaluation modules check once, with the same messages.

    Returns:
        ``(y, p)``: ``y`` int64 of shape (n,), ``p`` float64 of shape (n, c).

    Raises:
        ValueError: wrong shapes, rows not summing to 1, or labels out of range.

    >>> y, p = check_inputs([0, 1], [[0.9, 0.1], [0.2, 0.8]])
    >>> y.tolist(), p.shape
    ([0, 1], (2, 2))
    """
    p = _check_proba(proba)
    y = _check_labels(y_true, p.shape[0], p.shape[1])
    return y, p


def _true_proba(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Probability each row gives its true class; 0 for an unseen label."""
    out = np.zeros(y.shape[0])
    seen = y != UNSEEN
    out[seen] = p[np.flatnonzero(seen), y[seen]]
    return out


def top_k_accuracy(y_true: npt.ArrayLike, proba: npt.ArrayLike, k: int = 1) -> float:
    """Fraction of cases whose true class is among the ``k`` most probable.

    A differential is read top-down by a clinician, so "is the right answer in the first k"
    matters more than exact top-1. ``k`` larger than the number of classes is clipped
    (every known class is then "in the top k"). Ties are broken towards lower indices.

    >>> top_k_accuracy([0, 1, 2], [[0.6, 0.3, 0.1], [0.5, 0.3, 0.2], [0.1, 0.2, 0.7]], k=1)
    0.6666666666666666
    >>> top_k_accuracy([0, 1, 2], [[0.6, 0.3, 0.1], [0.5, 0.3, 0.2], [0.1, 0.2, 0.7]], k=2)
    1.0
    """
    y, p = check_inputs(y_true, proba)
    if k < 1:
        raise _fail("k", "an integer >= 1", str(k))
    k = min(k, p.shape[1])
    top = np.argsort(-p, axis=1, kind="stable")[:, :k]  # (n, k)
    return float(np.mean(np.any(top == y[:, None], axis=1)))


def macro_f1(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, n_classes: int | None = None) -> float:
    """Unweighted mean F1 over the classes present in ``y_true`` or ``y_pred``.

    Rare conditions count as much as common ones, which top-1 accuracy hides. Classes absent
    from both vectors are left out (as scikit-learn's ``average="macro"`` with
    ``labels=`` their union): they carry no evidence either way. A class that is predicted
    but never true scores F1 = 0. All unseen labels (``-1``) pool into one class.

    Args:
        y_true: true class indices.
        y_pred: predicted class indices, same length.
        n_classes: when given, indices must lie in ``[0, n_classes)`` (``-1`` allowed in
            ``y_true``).

    >>> macro_f1([0, 0, 1, 2], [0, 1, 1, 2])
    0.7777777777777777
    """
    from sklearn.metrics import f1_score

    yt = _check_labels(y_true, None, n_classes)
    yp = _check_labels(y_pred, yt.shape[0], n_classes)
    if n_classes is not None and yp.min() < 0:
        raise _fail("y_pred", f"class indices in [0, {n_classes})", f"minimum {int(yp.min())}")
    labels = np.union1d(yt, yp)
    return float(f1_score(yt, yp, labels=labels, average="macro", zero_division=0.0))


def balanced_accuracy(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Mean per-class recall over the classes present in ``y_true``.

    Equals scikit-learn's ``balanced_accuracy_score`` (not adjusted), computed directly so a
    prediction of a class absent from ``y_true`` does not raise a warning per subgroup.

    >>> balanced_accuracy([0, 0, 0, 1], [0, 0, 1, 1])
    0.8333333333333333
    """
    yt = _check_labels(y_true, None, None)
    yp = _check_labels(y_pred, yt.shape[0], None)
    recalls = [np.mean(yp[yt == c] == c) for c in np.unique(yt)]
    return float(np.mean(recalls))


@dataclass(frozen=True)
class ReliabilityBins:
    """Per-bin summary for a reliability diagram; empty bins have NaN confidence/accuracy.

    Attributes:
        lower: bin lower edges, shape (n_bins,); a bin is ``(lower, upper]``.
        upper: bin upper edges, shape (n_bins,).
        confidence: mean top-label probability of the cases in the bin.
        accuracy: fraction of those cases whose top label is right.
        count: number of cases in the bin.
    """

    lower: np.ndarray
    upper: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray


def reliability_bins(
    y_true: npt.ArrayLike, proba: npt.ArrayLike, n_bins: int = 15
) -> ReliabilityBins:
    """Bin cases by top-label confidence into ``n_bins`` equal-width bins over [0, 1].

    >>> b = reliability_bins([0, 1], [[0.9, 0.1], [0.7, 0.3]], n_bins=2)
    >>> b.count.tolist(), b.accuracy.tolist()
    ([0, 2], [nan, 0.5])
    """
    y, p = check_inputs(y_true, proba)
    if n_bins < 1:
        raise _fail("n_bins", "an integer >= 1", str(n_bins))
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # right-closed bins (lo, hi]: index = number of inner edges strictly below conf
    idx = np.searchsorted(edges[1:-1], conf, side="left")
    count = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, weights=conf, minlength=n_bins) / count
        mean_acc = np.bincount(idx, weights=correct, minlength=n_bins) / count
    return ReliabilityBins(edges[:-1], edges[1:], mean_conf, mean_acc, count)


def expected_calibration_error(
    y_true: npt.ArrayLike, proba: npt.ArrayLike, n_bins: int = 15
) -> float:
    """Expected calibration error of the top label (Guo et al., ICML 2017).

    ``ECE = sum_m |B_m| / n * |acc(B_m) - conf(B_m)|`` over equal-width confidence bins
    ``B_m = ((m-1)/M, m/M]``. A model whose "80 %" is right 80 % of the time scores 0; this
    is what makes a stated probability usable at the bedside.

    >>> expected_calibration_error([0, 1], [[0.9, 0.1], [0.7, 0.3]], n_bins=2)
    0.30000000000000004
    """
    b = reliability_bins(y_true, proba, n_bins)
    full = b.count > 0
    n = b.count.sum()
    gaps = np.abs(b.accuracy[full] - b.confidence[full]) * b.count[full] / n
    return float(gaps.sum())


def brier_score(y_true: npt.ArrayLike, proba: npt.ArrayLike) -> float:
    """Multi-class Brier score: mean over cases of ``sum_c (p_c - onehot_c) ** 2``.

    Ranges from 0 (certain and right) to 2 (certain and wrong). For an unseen label the
    one-hot lies outside the model's columns, so the case adds ``sum_c p_c ** 2 + 1``.

    >>> brier_score([0, 1], [[1.0, 0.0], [0.5, 0.5]])
    0.25
    """
    y, p = check_inputs(y_true, proba)
    pt = _true_proba(y, p)
    # sum_c (p_c - 1[c=y])^2 = sum_c p_c^2 - 2 p_y + 1
    return float(np.mean((p**2).sum(axis=1) - 2.0 * pt + 1.0))


def negative_log_likelihood(
    y_true: npt.ArrayLike, proba: npt.ArrayLike, eps: float = 1e-12
) -> float:
    """Mean ``-log p(true class)``, with probabilities floored at ``eps``.

    The floor keeps a single confident mistake (or an unseen label, probability 0) from
    making the mean infinite; each such case then adds ``-log(eps)`` (about 27.6).

    >>> round(negative_log_likelihood([0, 1], [[0.5, 0.5], [0.5, 0.5]]), 4)
    0.6931
    """
    y, p = check_inputs(y_true, proba)
    if not 0.0 < eps < 1.0:
        raise _fail("eps", "a float in (0, 1)", str(eps))
    return float(np.mean(-np.log(np.maximum(_true_proba(y, p), eps))))
