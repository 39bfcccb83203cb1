"""Figures of the evaluation report, returned as inline ``data:`` PNG URIs.

The HTML report must be one file a reviewer can open offline or attach to a ticket, so
every figure is embedded as base64 rather than linked. Figures are drawn on a bare
:class:`matplotlib.figure.Figure`, which needs no GUI backend and leaves pyplot's global
state alone (other code in the same process keeps whatever backend it chose).

The data behind each figure (bins, most-confused labels, coverage curve) is computed by a
separate pure function, so tests can check the numbers without decoding images.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from dxkit.errors import InputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DEFAULT_ALPHAS = (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)

__all__ = [
    "DEFAULT_ALPHAS",
    "CoveragePoint",
    "confusion_plot",
    "coverage_curve",
    "coverage_plot",
    "most_confused",
    "reliability_plot",
]


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="tight")


def _to_uri(fig: Figure) -> str:
    """PNG bytes of ``fig`` as a ``data:`` URI for an ``<img src>``."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def reliability_plot(
    y: npt.ArrayLike,
    proba: npt.ArrayLike,
    proba_before: npt.ArrayLike | None = None,
    n_bins: int = 15,
) -> str:
    """Reliability diagram (accuracy vs confidence per bin) with the diagonal.

    With ``proba_before`` (the uncalibrated probabilities) both curves are drawn, so the
    effect of temperature scaling is visible at a glance.
    """
    from dxkit.evaluate.metrics import reliability_bins

    fig = _figure(5.0, 4.5)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    curves = [("before calibration", proba_before, "tab:orange"), ("model", proba, "tab:blue")]
    for name, p, colour in curves:
        if p is None:
            continue
        b = reliability_bins(y, p, n_bins)
        full = b.count > 0
        ax.plot(b.confidence[full], b.accuracy[full], marker="o", color=colour, label=name)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence of the top condition")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Reliability ({n_bins} equal-width bins)")
    ax.legend(loc="upper left", fontsize=8)
    return _to_uri(fig)


def most_confused(
    y: npt.ArrayLike, pred: npt.ArrayLike, labels: list[str], top: int = 10
) -> tuple[list[str], np.ndarray]:
    """The ``top`` labels involved in the most errors and their confusion matrix.

    A full matrix over 100+ conditions is unreadable; the labels that take part in most
    mistakes (as truth or as prediction) are where a reviewer should look.

    Returns:
        ``(names, matrix)``: matrix[i, j] counts cases of true ``names[i]`` predicted as
        ``names[j]``; cases with an unseen true label are left out.

    >>> names, m = most_confused([0, 0, 1, 2, 2], [0, 1, 1, 2, 0], ["a", "b", "c"], top=2)
    >>> names, m.tolist()
    (['a', 'b'], [[1, 1], [0, 1]])
    """
    yt = np.asarray(y, dtype=np.int64)
    yp = np.asarray(pred, dtype=np.int64)
    seen = yt >= 0
    full = np.zeros((len(labels), len(labels)), dtype=np.int64)  # (true, predicted)
    np.add.at(full, (yt[seen], yp[seen]), 1)
    errors = full - np.diag(np.diag(full))
    involvement = errors.sum(axis=0) + errors.sum(axis=1)
    support = full.sum(axis=0) + full.sum(axis=1)
    order = np.lexsort((-support, -involvement))[: min(top, len(labels))]  # errors first
    keep = np.sort(order)
    return [labels[i] for i in keep], full[np.ix_(keep, keep)]


def confusion_plot(names: list[str], matrix: np.ndarray) -> str:
    """Heat map of a (small) confusion matrix with the counts written in the cells."""
    size = max(4.0, 0.55 * len(names) + 2.5)
    fig = _figure(size + 1.0, size)
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ticks = list(range(len(names)))
    short = [n if len(n) <= 28 else n[:27] + "…" for n in names]
    ax.set_xticks(ticks, short, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(ticks, short, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    limit = matrix.max() / 2 if matrix.size else 0
    for i in ticks:
        for j in ticks:
            colour = "white" if matrix[i, j] > limit else "black"
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7, color=colour)
    return _to_uri(fig)


@dataclass(frozen=True)
class CoveragePoint:
    """Coverage and mean set size at one alpha, measured on the held-out half."""

    alpha: float
    coverage: float
    mean_set_size: float
    n_fit: int
    n_test: int


def coverage_curve(
    proba: npt.ArrayLike,
    y: npt.ArrayLike,
    alphas: tuple[float, ...] = DEFAULT_ALPHAS,
    *,
    lam: float = 0.0,
    k_reg: int = 0,
    seed: int = 0,
) -> list[CoveragePoint]:
    """Coverage vs set size over ``alphas``, by split conformal on the evaluation cases.

    The saved model holds a threshold for one alpha only. To show the trade-off, the
    cases are split in two random halves: a fresh (pooled) predictor is fitted on one half
    per alpha and measured on the other. Alphas too small for the fitting half are
    skipped. Cases whose label the model never saw cannot be fitted on; they count as
    misses when measured.

    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 4, 400)
    >>> p = np.full((400, 4), 0.1); p[np.arange(400), y] = 0.7
    >>> pts = coverage_curve(p, y, (0.05, 0.5))
    >>> pts[0].mean_set_size >= pts[1].mean_set_size, pts[0].n_fit + pts[0].n_test
    (True, 400)
    """
    from dxkit.calibrate.conformal import ConformalPredictor, coverage, mean_set_size

    p = np.asarray(proba, dtype=np.float64)
    yy = np.asarray(y, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(yy))
    fit, test = order[: len(yy) // 2], order[len(yy) // 2 :]
    fit = fit[yy[fit] >= 0]
    points: list[CoveragePoint] = []
    if len(fit) == 0 or len(test) == 0:
        return points
    for alpha in alphas:
        try:
            cp = ConformalPredictor().fit(p[fit], yy[fit], alpha, lam=lam, k_reg=k_reg, seed=seed)
        except InputError:  # too few cases for a finite quantile at this alpha
            continue
        sets = cp.predict_sets(p[test])
        cov, size = coverage(sets, yy[test]), mean_set_size(sets)
        points.append(CoveragePoint(alpha, cov, size, len(fit), len(test)))
    return points


def coverage_plot(points: list[CoveragePoint]) -> str:
    """Coverage against mean set size, each point labelled with its alpha."""
    fig = _figure(5.0, 4.0)
    ax = fig.subplots()
    sizes = [pt.mean_set_size for pt in points]
    ax.plot(sizes, [pt.coverage for pt in points], marker="o", label="measured")
    ax.plot(sizes, [1 - pt.alpha for pt in points], linestyle="--", color="grey", label="1 - alpha")
    for pt in points:
        ax.annotate(f"α={pt.alpha:g}", (pt.mean_set_size, pt.coverage), fontsize=7)
    ax.set_xlabel("mean prediction-set size")
    ax.set_ylabel("coverage")
    ax.set_title("Coverage vs set size")
    ax.legend(loc="lower right", fontsize=8)
    return _to_uri(fig)
