"""One call that scores a model's predictions and returns a JSON-ready report.

The CLI, the benchmarks and the HTML report all need the same numbers for the same
predictions; computing them in one place keeps the definitions from drifting apart.

True labels the model has no column for (a condition absent from its training data) are
not an error: on a new data set that is exactly the situation to measure. They are mapped
to the index ``-1``, counted as wrong by every metric (probability 0 on the truth), and
reported as ``n_unseen_labels`` (distinct names) and ``n_unseen_cases``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from dxkit.evaluate.differential import differential_metrics
from dxkit.evaluate.metrics import (
    UNSEEN,
    balanced_accuracy,
    brier_score,
    check_inputs,
    expected_calibration_error,
    macro_f1,
    negative_log_likelihood,
    top_k_accuracy,
)
from dxkit.evaluate.subgroups import subgroup_table

DECIMALS = 4

__all__ = ["evaluate_predictions", "round_floats"]


def round_floats(obj: Any, decimals: int = DECIMALS) -> Any:
    """Round every float in nested dicts/lists; NaN and infinities become None for JSON.

    >>> round_floats({"a": 0.123456, "b": [float("nan"), 2]})
    {'a': 0.1235, 'b': [None, 2]}
    """
    if isinstance(obj, dict):
        return {k: round_floats(v, decimals) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [round_floats(v, decimals) for v in obj]
    if isinstance(obj, float | np.floating):
        return round(float(obj), decimals) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def evaluate_predictions(
    proba: npt.ArrayLike,
    labels: list[str],
    y_true: Sequence[str],
    *,
    reference: Sequence[dict[str, float] | None] | None = None,
    sex: Sequence[str] | None = None,
    age_band: Sequence[str] | None = None,
    threshold: float = 0.01,
    n_bins: int = 15,
    min_n: int = 10,
) -> dict[str, Any]:
    """Score predicted probabilities against true condition names.

    Args:
        proba: probabilities, shape (n_cases, n_labels), columns in ``labels`` order.
        labels: the model's condition names.
        y_true: true condition name per case; names not in ``labels`` count as misses.
        reference: DDXPlus-style reference differential per case, adds GTPA/DDR/DDP/DDF1.
        sex: sex per case, adds a ``subgroups`` table (with ``age_band`` if given).
        age_band: age band per case (see :func:`dxkit.cases.schema.age_band`).
        threshold: probability cut of the predicted differential (DDXPlus: 0.01).
        n_bins: confidence bins of the ECE.
        min_n: smallest subgroup that takes part in the largest-gap comparison.

    Returns:
        JSON-ready dict: ``n, n_unseen_labels, n_unseen_cases, top1, top3, top5, macro_f1,
        balanced_accuracy, ece, brier, nll`` (+ ``gtpa1, gtpa, ddr, ddp, ddf1``)
        (+ ``subgroups``), floats rounded to 4 decimals.

    >>> r = evaluate_predictions([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]], ["flu", "cold"],
    ...                          ["flu", "cold", "measles"])
    >>> r["n"], r["n_unseen_labels"], r["top1"], r["top5"]
    (3, 1, 0.6667, 0.6667)
    """
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != len(labels):
        raise ValueError(
            f"proba: expected shape (n_cases, {len(labels)}) matching labels; found {p.shape}"
        )
    index = {name: j for j, name in enumerate(labels)}
    if len(index) != len(labels):
        raise ValueError("labels: expected unique condition names; found duplicates")
    names = [str(t) for t in y_true]
    y = np.array([index.get(t, UNSEEN) for t in names], dtype=np.int64)
    y, p = check_inputs(y, p)
    unseen = {t for t in names if t not in index}
    pred = p.argmax(axis=1)

    out: dict[str, Any] = {
        "n": int(y.shape[0]),
        "n_unseen_labels": len(unseen),
        "n_unseen_cases": int(np.sum(y == UNSEEN)),
        "top1": top_k_accuracy(y, p, 1),
        "top3": top_k_accuracy(y, p, 3),
        "top5": top_k_accuracy(y, p, 5),
        "macro_f1": macro_f1(y, pred),
        "balanced_accuracy": balanced_accuracy(y, pred),
        "ece": expected_calibration_error(y, p, n_bins),
        "brier": brier_score(y, p),
        "nll": negative_log_likelihood(y, p),
    }
    if reference is not None:
        out.update(differential_metrics(p, labels, names, reference, threshold))
    if sex is not None or age_band is not None:
        out["subgroups"] = subgroup_table(y, p, sex, age_band, min_n=min_n)
    return dict(round_floats(out))
