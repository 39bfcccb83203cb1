"""Metrics per patient subgroup (sex, age band) and the largest gap between groups.

An overall accuracy can hide a model that works for men and fails for women, or for
adults and not for children. Reporting every metric per group, with the largest gap named,
makes such a failure visible in the evaluation report before deployment.

Groups smaller than ``min_n`` cases are reported but left out of the gap: a metric on
three cases is mostly noise and would dominate the "largest gap" otherwise.

The per-group computation uses fairlearn's ``MetricFrame`` when fairlearn is installed
(the reference implementation of disaggregated metrics) and an equivalent group-by loop
when it is not, so evaluation never depends on an optional package.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from dxkit.evaluate.metrics import (
    brier_score,
    check_inputs,
    expected_calibration_error,
    macro_f1,
    top_k_accuracy,
)

COVERAGE_TOLERANCE = 0.03  # shortfall below 1 - alpha tolerated before a group is flagged

Metric = Callable[[np.ndarray, np.ndarray], float]  # (y_true (n,), proba (n, c)) -> value

__all__ = [
    "COVERAGE_TOLERANCE",
    "GroupResult",
    "Metric",
    "coverage_by_group",
    "default_metrics",
    "metric_by_group",
    "subgroup_table",
]


@dataclass(frozen=True)
class GroupResult:
    """One metric evaluated per group.

    Attributes:
        values: metric value per group.
        n: number of cases per group.
        gap: max - min of ``values`` over groups with at least ``min_n`` cases; None when
            fewer than two groups qualify.
        max_group: group with the highest value among those qualifying (None if no gap).
        min_group: group with the lowest value among those qualifying (None if no gap).
    """

    values: dict[str, float]
    n: dict[str, int]
    gap: float | None
    max_group: str | None
    min_group: str | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (plain dicts, floats and strings)."""
        return {
            "values": dict(self.values),
            "n": dict(self.n),
            "gap": self.gap,
            "max_group": self.max_group,
            "min_group": self.min_group,
        }


def _by_group_loop(metric: Metric, y: np.ndarray, p: np.ndarray, g: np.ndarray) -> dict[str, float]:
    return {str(k): float(metric(y[g == k], p[g == k])) for k in np.unique(g)}


def _by_group(metric: Metric, y: np.ndarray, p: np.ndarray, g: np.ndarray) -> dict[str, float]:
    try:
        from fairlearn.metrics import MetricFrame  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        return _by_group_loop(metric, y, p, g)
    frame = MetricFrame(metrics=metric, y_true=y, y_pred=p, sensitive_features=g)
    return {str(k): float(v) for k, v in frame.by_group.items()}


def metric_by_group(
    metric: Metric,
    y_true: npt.ArrayLike,
    proba: npt.ArrayLike,
    groups: Sequence[str],
    min_n: int = 10,
) -> GroupResult:
    """Evaluate ``metric`` within each group and find the largest between-group gap.

    Args:
        metric: function of ``(y_true, proba)`` returning a float, e.g.
            ``lambda y, p: top_k_accuracy(y, p, 1)``.
        y_true: class indices, shape (n,) (``-1`` for a label the model never saw).
        proba: probabilities, shape (n, c).
        groups: group name per case, e.g. ``"female"`` or ``"18-39"``.
        min_n: smallest group size that takes part in the gap.

    >>> r = metric_by_group(lambda y, p: top_k_accuracy(y, p), [0, 1, 1, 0],
    ...                     [[.9, .1], [.2, .8], [.6, .4], [.3, .7]], ["f", "f", "m", "m"],
    ...                     min_n=2)
    >>> r.values, r.gap, r.max_group, r.min_group
    ({'f': 1.0, 'm': 0.0}, 1.0, 'f', 'm')
    """
    y, p = check_inputs(y_true, proba)
    g = np.asarray([str(x) for x in groups], dtype=object)
    if g.shape[0] != y.shape[0]:
        raise ValueError(f"groups: expected {y.shape[0]} entries (one per case); found {len(g)}")
    if min_n < 1:
        raise ValueError(f"min_n: expected an integer >= 1; found {min_n}")
    return _summarise(_by_group(metric, y, p, g), g, min_n)


def _summarise(values: dict[str, float], g: np.ndarray, min_n: int) -> GroupResult:
    """Group sizes and the largest gap among groups of at least ``min_n`` cases."""
    names, counts = np.unique(g, return_counts=True)
    n = {str(k): int(c) for k, c in zip(names, counts, strict=True)}
    eligible = {k: v for k, v in values.items() if n[k] >= min_n and np.isfinite(v)}
    if len(eligible) < 2:
        return GroupResult(values, n, None, None, None)
    hi = max(eligible, key=eligible.__getitem__)
    lo = min(eligible, key=eligible.__getitem__)
    return GroupResult(values, n, eligible[hi] - eligible[lo], hi, lo)


def default_metrics() -> dict[str, Metric]:
    """The metrics of the subgroup table: top-1/top-3 accuracy, macro-F1, ECE, Brier."""
    return {
        "top1": lambda y, p: top_k_accuracy(y, p, 1),
        "top3": lambda y, p: top_k_accuracy(y, p, 3),
        "macro_f1": lambda y, p: macro_f1(y, p.argmax(axis=1)),
        "ece": expected_calibration_error,
        "brier": brier_score,
    }


def subgroup_table(
    y_true: npt.ArrayLike,
    proba: npt.ArrayLike,
    sex: Sequence[str] | None = None,
    age_band: Sequence[str] | None = None,
    *,
    min_n: int = 10,
) -> dict[str, Any]:
    """Every default metric per sex and per age band, with the largest gap per metric.

    Returns:
        ``{"sex": {metric: GroupResult.to_dict()}, "age_band": {...}, "largest_gap":
        {metric: {"attribute", "gap", "max_group", "min_group"}}}``; an attribute passed as
        None is left out, and ``largest_gap`` holds only metrics with some gap.

    >>> t = subgroup_table([0, 1, 1, 0], [[.9, .1], [.2, .8], [.6, .4], [.3, .7]],
    ...                    sex=["f", "f", "m", "m"], min_n=2)
    >>> t["sex"]["top1"]["values"], t["largest_gap"]["top1"]["attribute"]
    ({'f': 1.0, 'm': 0.0}, 'sex')
    """
    table: dict[str, Any] = {}
    largest: dict[str, dict[str, Any]] = {}
    for attribute, groups in (("sex", sex), ("age_band", age_band)):
        if groups is None:
            continue
        table[attribute] = {}
        for name, metric in default_metrics().items():
            r = metric_by_group(metric, y_true, proba, groups, min_n)
            table[attribute][name] = r.to_dict()
            _keep_largest(largest, name, attribute, r)
    table["largest_gap"] = largest
    return table


def _keep_largest(
    largest: dict[str, dict[str, Any]], name: str, attribute: str, r: GroupResult
) -> None:
    """Record ``r``'s gap under ``name`` if it beats the one kept so far."""
    if r.gap is not None and (name not in largest or r.gap > largest[name]["gap"]):
        largest[name] = {
            "attribute": attribute,
            "gap": r.gap,
            "max_group": r.max_group,
            "min_group": r.min_group,
        }


def _membership(sets: Sequence[Sequence[int]], n_classes: int) -> np.ndarray:
    """Prediction sets as a boolean matrix (n_cases, n_classes), so groups can slice it."""
    member = np.zeros((len(sets), n_classes), dtype=bool)
    for i, s in enumerate(sets):
        member[i, list(s)] = True
    return member


def _set_coverage(y: np.ndarray, member: np.ndarray) -> float:
    """Share of cases whose true class is in the set; an unseen label (-1) is a miss."""
    seen = y >= 0
    hit = np.zeros(y.shape[0], dtype=bool)
    hit[seen] = member[np.flatnonzero(seen), y[seen]]
    return float(hit.mean())


def _set_size(y: np.ndarray, member: np.ndarray) -> float:
    return float(member.sum(axis=1).mean())


def coverage_by_group(
    sets: Sequence[Sequence[int]],
    y_true: npt.ArrayLike,
    proba: npt.ArrayLike,
    alpha: float,
    *,
    sex: Sequence[str] | None = None,
    age_band: Sequence[str] | None = None,
    min_n: int = 10,
    n_bins: int = 15,
    tolerance: float = COVERAGE_TOLERANCE,
) -> dict[str, Any]:
    """Conformal coverage, mean set size and ECE per sex and per age band.

    Split conformal sets promise ``1 - alpha`` coverage on average; a group the model
    finds hard can sit well below it while the average looks fine. Every group whose
    coverage is below ``1 - alpha - tolerance`` is listed in ``under_covered`` (with
    ``small`` set when it has fewer than ``min_n`` cases, where the shortfall may be noise).

    Args:
        sets: label indices of each case's prediction set.
        y_true: class indices, shape (n,) (``-1`` for a label the model never saw).
        proba: the (calibrated) probabilities the sets were built from, shape (n, c).
        alpha: the miscoverage level the sets were fitted for.
        sex: sex per case; age_band: age band per case (either may be None).
        min_n: smallest group that takes part in the largest-gap comparison.
        n_bins: confidence bins of the ECE.
        tolerance: allowed shortfall below ``1 - alpha`` before a group is flagged.

    Returns:
        ``{"alpha", "target", "flag_below", "sex": {metric: GroupResult.to_dict()},
        "age_band": {...}, "largest_gap": {metric: {...}}, "under_covered": [...]}`` with
        metrics ``coverage``, ``mean_set_size`` and ``ece``.

    >>> r = coverage_by_group([[0], [1], [1], [1]], [0, 1, 0, 0],
    ...                       [[.9, .1], [.2, .8], [.4, .6], [.3, .7]], 0.1,
    ...                       sex=["f", "f", "m", "m"], min_n=2)
    >>> r["sex"]["coverage"]["values"], r["largest_gap"]["coverage"]["min_group"]
    ({'f': 1.0, 'm': 0.0}, 'm')
    >>> [(u["group"], u["coverage"]) for u in r["under_covered"]]
    [('m', 0.0)]
    """
    y, p = check_inputs(y_true, proba)
    if len(sets) != y.shape[0]:
        raise ValueError(f"sets: expected {y.shape[0]} sets (one per case); found {len(sets)}")
    member = _membership(sets, p.shape[1])
    flag_below = 1.0 - alpha - tolerance
    out: dict[str, Any] = {"alpha": alpha, "target": 1.0 - alpha, "flag_below": flag_below}
    largest: dict[str, dict[str, Any]] = {}
    under: list[dict[str, Any]] = []
    for attribute, groups in (("sex", sex), ("age_band", age_band)):
        if groups is None:
            continue
        g = np.asarray([str(x) for x in groups], dtype=object)
        if g.shape[0] != y.shape[0]:
            raise ValueError(f"{attribute}: expected {y.shape[0]} entries; found {len(g)}")
        results = {
            "coverage": _summarise(_by_group(_set_coverage, y, member, g), g, min_n),
            "mean_set_size": _summarise(_by_group(_set_size, y, member, g), g, min_n),
            "ece": metric_by_group(
                lambda yy, pp: expected_calibration_error(yy, pp, n_bins), y, p, list(g), min_n
            ),
        }
        out[attribute] = {name: r.to_dict() for name, r in results.items()}
        for name, r in results.items():
            _keep_largest(largest, name, attribute, r)
        cov = results["coverage"]
        for group, value in sorted(cov.values.items()):
            if value < flag_below:
                n = cov.n[group]
                under.append(
                    {"attribute": attribute, "group": group, "coverage": value, "n": n,
                     "small": n < min_n}
                )  # fmt: skip
    out["largest_gap"] = largest
    out["under_covered"] = under
    return out
