"""Combining the model's probabilities with an LLM's ranking, and fitting the weight.

An LLM gives a ranking, not calibrated probabilities, so its ranking is turned into a
distribution (reciprocal rank, with a little mass ``eps`` spread over every label so an
unranked truth keeps a finite likelihood) and mixed with the model's:
``p = (1 - w) * p_model + w * p_llm``. Both terms sum to one, so the mixture does too.

The weight ``w`` is chosen on validation data by negative log-likelihood over a grid
that includes 0: on validation, the combination is never worse than the model alone,
so a useless LLM is simply switched off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dxkit.errors import InputError

DEFAULT_EPS = 0.05
DEFAULT_GRID = tuple(round(w, 2) for w in np.linspace(0.0, 1.0, 11))


def rank_distribution(
    ranking: Sequence[int], n_labels: int, eps: float = DEFAULT_EPS
) -> np.ndarray:
    """A distribution over ``n_labels`` from a ranking of label indices (best first).

    >>> rank_distribution([2, 0], 4, eps=0.0).round(3).tolist()
    [0.333, 0.0, 0.667, 0.0]
    """
    if not 0.0 <= eps <= 1.0:
        raise InputError("eps", expected="a number in [0, 1]", found=str(eps), fix="use 0.05")
    q = np.full(n_labels, eps / n_labels)  # (n_labels,)
    seen: list[int] = []
    for index in ranking:
        if 0 <= index < n_labels and index not in seen:
            seen.append(index)
    if not seen:
        return np.full(n_labels, 1.0 / n_labels)
    weights = 1.0 / np.arange(1, len(seen) + 1)
    q[seen] += (1.0 - eps) * weights / weights.sum()
    return q


def combine_probabilities(
    p_model: npt.ArrayLike, p_llm: npt.ArrayLike, weight: float
) -> np.ndarray:
    """``normalise((1 - w) * p_model + w * p_llm)`` row by row.

    >>> combine_probabilities([[0.8, 0.2]], [[0.0, 1.0]], 0.5).tolist()
    [[0.4, 0.6]]
    """
    if not 0.0 <= weight <= 1.0:
        raise InputError(
            "LLM weight",
            expected="a number in [0, 1]",
            found=str(weight),
            fix="fit it with fit_weight",
        )
    p = np.asarray(p_model, dtype=np.float64)
    q = np.asarray(p_llm, dtype=np.float64)
    if p.shape != q.shape:
        raise InputError(
            "probabilities",
            expected="model and LLM distributions of one shape",
            found=f"{p.shape} and {q.shape}",
            fix="build p_llm with rank_distribution over the model's labels",
        )
    mixed = (1.0 - weight) * p + weight * q
    total = mixed.sum(axis=-1, keepdims=True)
    out: np.ndarray = np.divide(mixed, total, out=np.zeros_like(mixed), where=total > 0)
    return out


@dataclass(frozen=True)
class WeightFit:
    """The chosen weight and the validation scores of every weight tried."""

    weight: float
    nll: float
    top1: float
    table: list[tuple[float, float, float]]  # (weight, nll, top1)


def fit_weight(
    p_model: npt.ArrayLike,
    p_llm: npt.ArrayLike,
    y: npt.ArrayLike,
    grid: Sequence[float] = DEFAULT_GRID,
) -> WeightFit:
    """The weight with the lowest validation NLL (ties: higher top-1, then smaller w).

    >>> fit = fit_weight([[0.6, 0.4], [0.6, 0.4]], [[0.0, 1.0], [0.0, 1.0]], [1, 1])
    >>> fit.weight > 0, fit.top1
    (True, 1.0)
    >>> fit_weight([[0.9, 0.1]], [[0.0, 1.0]], [0]).weight
    0.0
    """
    p = np.asarray(p_model, dtype=np.float64)
    q = np.asarray(p_llm, dtype=np.float64)
    labels = np.asarray(y, dtype=np.int64)
    if p.ndim != 2 or len(labels) != len(p) or len(p) == 0:
        raise InputError(
            "validation data",
            expected="(n_cases, n_labels) probabilities and n_cases labels, n_cases >= 1",
            found=f"{p.shape} and {labels.shape}",
            fix="pass the model's and the LLM's probabilities of the same validation cases",
        )
    if 0.0 not in grid:
        grid = (0.0, *grid)
    table = []
    rows = np.arange(len(labels))
    for w in sorted(set(grid)):
        mixed = combine_probabilities(p, q, float(w))
        nll = float(-np.mean(np.log(np.clip(mixed[rows, labels], 1e-12, None))))
        top1 = float(np.mean(mixed.argmax(axis=1) == labels))
        table.append((float(w), nll, top1))
    best = min(table, key=lambda row: (round(row[1], 9), -row[2], row[0]))
    return WeightFit(weight=best[0], nll=best[1], top1=best[2], table=table)
