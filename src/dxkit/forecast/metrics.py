"""Binary risk metrics and the alert policy: pure functions over arrays.

Why separate from :mod:`dxkit.evaluate.metrics`: that module scores a ranked list of
labels; a deterioration risk is one probability per stay, judged by discrimination
(AUROC, AUPRC), accuracy of the probability (Brier, ECE over the positive class) and
the alert burden a threshold implies at the bedside.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from dxkit.errors import InputError


def _check(y_true: npt.ArrayLike, risk: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y, p = np.asarray(y_true, dtype=float), np.asarray(risk, dtype=float)
    if y.shape != p.shape or y.ndim != 1 or y.size == 0:
        raise InputError(
            "risk metrics",
            expected="two 1-d arrays of the same length",
            found=f"shapes {y.shape} and {p.shape}",
            fix="pass one risk per stay",
        )
    if not np.isin(y, (0.0, 1.0)).all() or not np.isfinite(p).all():
        raise InputError(
            "risk metrics",
            expected="outcomes 0/1 and finite risks",
            found="other values",
            fix="drop stays without an outcome",
        )
    return y, p


def auroc(y_true: npt.ArrayLike, risk: npt.ArrayLike) -> float:
    """Area under the ROC curve (ties count half); NaN when only one class is present.

    >>> auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    from sklearn.metrics import roc_auc_score

    y, p = _check(y_true, risk)
    return float(roc_auc_score(y, p)) if 0 < y.sum() < y.size else math.nan


def auprc(y_true: npt.ArrayLike, risk: npt.ArrayLike) -> float:
    """Average precision (area under the precision-recall curve, step-wise).

    >>> round(auprc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 4)
    0.8333
    """
    from sklearn.metrics import average_precision_score

    y, p = _check(y_true, risk)
    return float(average_precision_score(y, p)) if y.sum() > 0 else math.nan


def brier(y_true: npt.ArrayLike, risk: npt.ArrayLike) -> float:
    """Mean squared error of the risk against the 0/1 outcome.

    >>> round(brier([0, 1], [0.2, 0.6]), 6)
    0.1
    """
    y, p = _check(y_true, risk)
    return float(np.mean((p - y) ** 2))


def ece(y_true: npt.ArrayLike, risk: npt.ArrayLike, n_bins: int = 10) -> float:
    """Expected calibration error of the positive class over equal-width risk bins.

    ``sum_b |B_b|/n * |mean(y in b) - mean(risk in b)|`` with bins ``[0, 0.1), ...,
    [0.9, 1]``: how far stated risks are from observed death rates.

    >>> round(ece([0, 0, 1, 1], [0.05, 0.15, 0.85, 0.95]), 3)
    0.1
    """
    y, p = _check(y_true, risk)
    idx = np.minimum((p * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in np.unique(idx):
        inside = idx == b
        total += inside.sum() / y.size * abs(y[inside].mean() - p[inside].mean())
    return float(total)


def risk_metrics(y_true: npt.ArrayLike, risk: npt.ArrayLike) -> dict[str, float]:
    """``n``, ``prevalence``, ``auroc``, ``auprc``, ``brier`` and ``ece`` in one dict."""
    y, p = _check(y_true, risk)
    return {
        "n": int(y.size),
        "prevalence": float(y.mean()),
        "auroc": auroc(y, p),
        "auprc": auprc(y, p),
        "brier": brier(y, p),
        "ece": ece(y, p),
    }


@dataclass(frozen=True)
class AlertPolicy:
    """Alert when risk >= ``threshold``, chosen for ``target_sensitivity`` on validation.

    Attributes:
        target_sensitivity: the sensitivity asked for (e.g. 0.8).
        threshold: risk at or above which an alert fires.
        sensitivity: sensitivity reached on the data the threshold was chosen on.
        alerts_per_100: alerts per 100 patients there (the burden on staff).
        ppv: fraction of alerts that were true deteriorations there.
    """

    target_sensitivity: float
    threshold: float
    sensitivity: float
    alerts_per_100: float
    ppv: float

    def describe(self) -> str:
        """The policy as one sentence for a report.

        >>> AlertPolicy(0.8, 0.12, 0.81, 31.5, 0.36).describe()
        'alert at 80% sensitivity (risk >= 0.120): 31.5 alerts per 100 patients, PPV 36%'
        """
        return (
            f"alert at {self.target_sensitivity:.0%} sensitivity (risk >= "
            f"{self.threshold:.3f}): {self.alerts_per_100:.1f} alerts per 100 patients, "
            f"PPV {self.ppv:.0%}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (stored in the model manifest)."""
        return asdict(self)


def apply_policy(
    threshold: float, y_true: npt.ArrayLike, risk: npt.ArrayLike, target: float
) -> AlertPolicy:
    """Sensitivity, burden and PPV of a fixed threshold on (new) data."""
    y, p = _check(y_true, risk)
    alerts = p >= threshold
    sens = float(alerts[y == 1].mean()) if y.sum() else math.nan
    ppv = float(y[alerts].mean()) if alerts.any() else math.nan
    return AlertPolicy(target, float(threshold), sens, float(alerts.mean() * 100), ppv)


def alert_policy(y_true: npt.ArrayLike, risk: npt.ArrayLike, target: float = 0.8) -> AlertPolicy:
    """The highest threshold whose sensitivity on this data is at least ``target``.

    >>> alert_policy([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], target=0.5).threshold
    0.8
    """
    y, p = _check(y_true, risk)
    if not 0 < target <= 1:
        raise InputError(
            "alert sensitivity",
            expected="a fraction in (0, 1]",
            found=str(target),
            fix="pass e.g. 0.8",
        )
    positives = np.sort(p[y == 1])[::-1]
    if positives.size == 0:
        raise InputError(
            "alert policy",
            expected="at least one positive outcome",
            found="none",
            fix="choose the threshold on data with deaths",
        )
    k = max(math.ceil(target * positives.size), 1)
    return apply_policy(float(positives[k - 1]), y, p, target)
