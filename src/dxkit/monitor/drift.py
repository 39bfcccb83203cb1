"""Drift and live performance: PSI per input feature and for the condition mix, accuracy,
calibration and abstention from the service's answers, and the alerts they raise.

PSI (population stability index) = ``sum_b (a_b - e_b) * ln(a_b / e_b)`` over bins,
with ``e`` the reference share and ``a`` the live share. The usual reading (Siddiqi,
*Credit Risk Scorecards*, 2006): below 0.1 stable, 0.1-0.2 a moderate shift, above 0.2
a significant one - the default alert threshold here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from dxkit.errors import InputError
from dxkit.monitor.profile import ReferenceProfile, feature_histograms, shares
from dxkit.monitor.window import LiveAnswer

PSI_FLOOR = 1e-4  # share given to a bin empty on one side, so PSI stays finite


def psi(expected: Mapping[str, float], actual: Mapping[str, float]) -> float:
    """Population stability index between two ``{bin: share}`` maps.

    >>> round(psi({"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}), 6)
    0.0
    >>> round(psi({"a": 0.9, "b": 0.1}, {"a": 0.5, "b": 0.5}), 3)
    0.879
    """
    total = 0.0
    for key in set(expected) | set(actual):
        e = max(expected.get(key, 0.0), PSI_FLOOR)
        a = max(actual.get(key, 0.0), PSI_FLOOR)
        total += (a - e) * math.log(a / e)
    return total


def ece(confidence: npt.ArrayLike, correct: npt.ArrayLike, n_bins: int = 15) -> float:
    """Expected calibration error from top-1 confidences and whether each was right.

    Same equal-width bins as :func:`dxkit.evaluate.metrics.expected_calibration_error`,
    but it needs no probability matrix: live feedback gives one confidence and a verdict.

    >>> round(ece([0.9, 0.7], [True, False], n_bins=2), 3)  # one bin: |0.5 - 0.8|
    0.3
    """
    conf = np.asarray(confidence, dtype=float)
    hit = np.asarray(correct, dtype=float)
    if conf.size == 0:
        return float("nan")
    bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    total = 0.0
    for b in np.unique(bins):
        members = bins == b
        total += members.sum() / conf.size * abs(hit[members].mean() - conf[members].mean())
    return float(total)


@dataclass(frozen=True)
class Thresholds:
    """When monitoring raises an alert (exit code 1).

    Attributes:
        psi: any feature's or the condition mix's PSI above this.
        accuracy_drop: live top-1 accuracy this far below the reference.
        abstain_rise: abstention rate this far above the reference.
        ece_rise: live ECE this far above the reference.
        min_feedback: verdicts needed before accuracy and ECE are judged at all.
    """

    psi: float = 0.2
    accuracy_drop: float = 0.1
    abstain_rise: float = 0.1
    ece_rise: float = 0.1
    min_feedback: int = 20


@dataclass(frozen=True)
class MonitorResult:
    """Live figures next to the reference's, and the alerts raised."""

    n_answers: int
    n_feedback: int
    feature_psi: dict[str, float]
    condition_psi: float
    live_features: dict[str, dict[str, float]]
    live_conditions: dict[str, float]
    live_accuracy: float | None
    live_ece: float | None
    abstain_rate: float
    reference: ReferenceProfile
    alerts: list[str] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)  # judged answers, for the plot
    verdicts: list[bool] = field(default_factory=list)

    def summary(self) -> str:
        """One line for schedulers: what crossed a threshold, or that nothing did."""
        if self.alerts:
            return "drift alert: " + "; ".join(self.alerts)
        return f"ok: {self.n_answers} answers, {self.n_feedback} verdicts, no threshold crossed"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready figures (no cases, no notes)."""
        return {
            "n_answers": self.n_answers,
            "n_feedback": self.n_feedback,
            "feature_psi": self.feature_psi,
            "condition_psi": self.condition_psi,
            "live_accuracy": self.live_accuracy,
            "live_ece": self.live_ece,
            "abstain_rate": self.abstain_rate,
            "reference": {
                "n": self.reference.n,
                "top1": self.reference.top1,
                "ece": self.reference.ece,
                "abstain_rate": self.reference.abstain_rate,
            },
            "alerts": self.alerts,
        }


def compare(
    reference: ReferenceProfile,
    answers: Sequence[LiveAnswer],
    thresholds: Thresholds | None = None,
) -> MonitorResult:
    """Compare live answers with the reference and list the thresholds crossed.

    Raises:
        InputError: no answers in the window.
    """
    limits = thresholds or Thresholds()
    if not answers:
        raise InputError(
            "monitoring window",
            expected="stored answers in the chosen window",
            found="none",
            fix="widen --since, or check that the service stores its answers there",
        )
    live = feature_histograms([a.case for a in answers if a.case is not None])
    feature_psi = {
        name: round(psi(reference.features[name], live[name]), 4)
        for name in sorted(set(reference.features) & set(live))
    }
    live_conditions = shares(a.top_condition for a in answers)
    condition_psi = round(psi(reference.conditions, live_conditions), 4)
    judged = [a for a in answers if a.correct is not None]
    confidences = [a.top_probability for a in judged]
    verdicts = [bool(a.correct) for a in judged]
    accuracy = float(np.mean(verdicts)) if judged else None
    live_ece = ece(confidences, verdicts) if judged else None
    abstain_rate = float(np.mean([a.abstained for a in answers]))
    alerts = [
        f"PSI {name} {v:.2f} > {limits.psi}" for name, v in feature_psi.items() if v > limits.psi
    ]
    if condition_psi > limits.psi:
        alerts.append(f"PSI predicted conditions {condition_psi:.2f} > {limits.psi}")
    enough = len(judged) >= limits.min_feedback
    top1, ref_ece, ref_abstain = reference.top1, reference.ece, reference.abstain_rate
    if (
        enough
        and accuracy is not None
        and top1 is not None
        and top1 - accuracy > limits.accuracy_drop
    ):
        alerts.append(f"accuracy {accuracy:.2f} vs reference {top1:.2f}")
    if (
        enough
        and live_ece is not None
        and ref_ece is not None
        and live_ece - ref_ece > limits.ece_rise
    ):
        alerts.append(f"ECE {live_ece:.2f} vs reference {ref_ece:.2f}")
    if ref_abstain is not None and abstain_rate - ref_abstain > limits.abstain_rise:
        alerts.append(f"abstention {abstain_rate:.2f} vs reference {ref_abstain:.2f}")
    return MonitorResult(
        n_answers=len(answers),
        n_feedback=len(judged),
        feature_psi=feature_psi,
        condition_psi=condition_psi,
        live_features=live,
        live_conditions=live_conditions,
        live_accuracy=accuracy,
        live_ece=live_ece,
        abstain_rate=abstain_rate,
        reference=reference,
        alerts=alerts,
        confidences=confidences,
        verdicts=verdicts,
    )
