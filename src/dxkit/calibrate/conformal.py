"""Split conformal prediction sets over predicted probabilities.

Why: a calibrated probability says how sure the model is on average, not which
conditions a clinician must still consider for *this* patient. Split conformal
prediction turns any model's probabilities into a set of conditions that holds the true
one with probability at least ``1 - alpha`` on exchangeable cases, with no assumption
about the model. A large set, or an emergency hiding below the top answer, is an honest
signal to refer the patient rather than to guess.

Scores are adaptive prediction sets (APS, Romano et al. 2020), optionally regularised
(RAPS, Angelopoulos et al. 2021) so that long tails of unlikely conditions are cut. With
``groups`` the thresholds are Mondrian (one per group, e.g. ``"F|65+"``), so coverage
holds within each group and not only on average over an easy majority.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dxkit.errors import InputError


def check_alpha(alpha: float) -> None:
    """Refuse an error rate outside (0, 1) with a message that names the fix."""
    if not (isinstance(alpha, int | float) and 0.0 < float(alpha) < 1.0):
        raise InputError(
            "alpha", expected="a number in (0, 1)", found=f"{alpha}", fix="pass e.g. --alpha 0.1"
        )


def min_calibration_cases(alpha: float) -> int:
    """Fewest calibration cases for which the conformal quantile is finite."""
    return max(1, math.ceil(1.0 / alpha - 1e-9) - 1)


def _all_scores(proba: np.ndarray, u: np.ndarray, lam: float, k_reg: int) -> np.ndarray:
    """Score every class of every case as if it were the true one, shape (n, c).

    Classes are ranked by decreasing probability; a class scores the mass ranked above
    it, plus ``u`` times its own mass (randomisation makes coverage exact rather than
    conservative), plus ``lam`` for every rank past ``k_reg``.
    """
    order = np.argsort(-proba, axis=1, kind="stable")  # (n, c) class at each rank
    sorted_p = np.take_along_axis(proba, order, axis=1)
    above = np.cumsum(sorted_p, axis=1) - sorted_p  # mass strictly above each rank
    ranks = np.arange(1, proba.shape[1] + 1)  # 1-based rank
    penalty = lam * np.maximum(0, ranks - k_reg)
    sorted_scores = above + u[:, None] * sorted_p + penalty[None, :]
    scores: np.ndarray = np.empty_like(sorted_scores)
    np.put_along_axis(scores, order, sorted_scores, axis=1)
    return scores


def _check_proba(proba: np.ndarray) -> np.ndarray:
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2 or proba.shape[1] < 2:
        raise InputError(
            "proba",
            expected="a 2-D array (n_cases, n_labels) with at least 2 labels",
            found=f"shape {proba.shape}",
            fix="pass the output of model.predict_proba",
        )
    return proba


def aps_scores(
    proba: np.ndarray, y: np.ndarray, *, lam: float = 0.0, k_reg: int = 0, seed: int = 0
) -> np.ndarray:
    """APS non-conformity scores of the true labels ``y``; RAPS when ``lam > 0``.

    The score is the total probability of the classes ranked above the true one plus
    ``u * p_true`` with ``u ~ U(0, 1)`` drawn from a seeded generator, plus
    ``lam * max(0, rank - k_reg)``. Low scores mean the model ranked the truth highly.

    >>> p = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3]])
    >>> s = aps_scores(p, np.array([0, 2]))
    >>> bool(0.0 <= s[0] <= 0.6 and 0.5 <= s[1] <= 0.8)
    True
    >>> bool(aps_scores(p, np.array([2, 0]), lam=1.0, k_reg=1)[0] > 2.0)
    True
    """
    proba = _check_proba(proba)
    y = np.asarray(y, dtype=int)
    if y.shape != (proba.shape[0],) or (y.size and (y.min() < 0 or y.max() >= proba.shape[1])):
        raise InputError(
            "labels",
            expected=f"{proba.shape[0]} label indices in [0, {proba.shape[1]})",
            found=f"shape {y.shape}",
            fix="drop cases whose label the model does not know",
        )
    u = np.asarray(np.random.default_rng(seed).random(int(proba.shape[0])))
    scores = _all_scores(proba, u, lam, k_reg)
    out: np.ndarray = scores[np.arange(len(y)), y]
    return out


def conformal_quantile(scores: np.ndarray, alpha: float) -> float:
    """The ``ceil((n + 1)(1 - alpha)) / n`` empirical quantile of calibration scores.

    The ``+1`` is the finite-sample correction that makes coverage at least
    ``1 - alpha``; it needs ``n >= ceil(1/alpha) - 1`` cases to be finite.

    >>> conformal_quantile(np.arange(1, 20) / 20, 0.1)  # k = ceil(20 * 0.9) = 18
    0.9
    """
    check_alpha(alpha)
    s = np.sort(np.asarray(scores, dtype=float).ravel())
    n, need = len(s), min_calibration_cases(alpha)
    if n < need:
        raise InputError(
            f"calibration set too small for alpha={alpha:g}",
            expected=f"at least {need} cases",
            found=f"{n}",
            fix="use more calibration cases or a larger alpha",
        )
    k = min(n, math.ceil((n + 1) * (1.0 - alpha) - 1e-9))
    return float(s[k - 1])


@dataclass
class ConformalPredictor:
    """Fitted conformal thresholds, pooled and (optionally) per group.

    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 4, 400)
    >>> p = np.full((400, 4), 0.1); p[np.arange(400), y] = 0.7
    >>> cp = ConformalPredictor().fit(p, y, alpha=0.1)
    >>> sets = cp.predict_sets(p[:3])
    >>> all(s[0] == int(np.argmax(row)) for s, row in zip(sets, p[:3]))
    True
    """

    alpha: float = 0.1
    lam: float = 0.0
    k_reg: int = 0
    seed: int = 0
    threshold: float = float("inf")
    group_thresholds: dict[str, float] = field(default_factory=dict)
    fallback_groups: list[str] = field(default_factory=list)
    n_calibration: int = 0
    # The calibration scores and their group keys, kept so the sets can be drawn at
    # another confidence later (:meth:`at_alpha`) without the calibration cases.
    scores: list[float] = field(default_factory=list, repr=False)
    score_groups: list[str] = field(default_factory=list, repr=False)

    def fit(
        self,
        proba: np.ndarray,
        y: np.ndarray,
        alpha: float,
        groups: Sequence[Hashable] | None = None,
        lam: float = 0.0,
        k_reg: int = 0,
        seed: int = 0,
    ) -> ConformalPredictor:
        """Fit the pooled threshold and, with ``groups``, one threshold per group.

        A group with fewer than ``ceil(1/alpha) - 1`` calibration cases cannot have a
        finite threshold of its own; it uses the pooled one and is listed in
        ``fallback_groups`` so the report can say so.
        """
        check_alpha(alpha)
        self.lam, self.k_reg, self.seed = float(lam), int(k_reg), seed
        scores = aps_scores(proba, y, lam=lam, k_reg=k_reg, seed=seed)
        keys = self._keys(groups, len(scores)) if groups is not None else []
        return self._fit_scores(np.asarray(scores, dtype=float), keys, alpha)

    def at_alpha(self, alpha: float) -> ConformalPredictor:
        """The same calibration at error rate ``alpha`` (a clinician's chosen confidence).

        Raises:
            InputError: ``alpha`` outside (0, 1), too few calibration cases for it, or a
                predictor saved without its scores (only its own level is known).
        """
        check_alpha(alpha)
        if math.isclose(alpha, self.alpha):
            return self
        if not self.scores:
            raise InputError(
                "confidence",
                expected=f"{1 - self.alpha:.0%}, the only level this model's calibration kept",
                found=f"{1 - alpha:.0%}",
                fix="leave the confidence out, or retrain the model to choose it per request",
            )
        other = ConformalPredictor(lam=self.lam, k_reg=self.k_reg, seed=self.seed)
        return other._fit_scores(np.asarray(self.scores), list(self.score_groups), alpha)

    def _fit_scores(self, scores: np.ndarray, keys: list[str], alpha: float) -> ConformalPredictor:
        self.alpha = float(alpha)
        self.scores = [float(v) for v in scores]
        self.score_groups = list(keys)
        self.n_calibration = len(scores)
        self.threshold = conformal_quantile(scores, alpha)
        self.group_thresholds, self.fallback_groups = {}, []
        if keys:
            for key in sorted(set(keys)):
                mask = np.array([k == key for k in keys])
                if mask.sum() < min_calibration_cases(alpha):
                    self.fallback_groups.append(key)
                else:
                    self.group_thresholds[key] = conformal_quantile(scores[mask], alpha)
        return self

    @staticmethod
    def _keys(groups: Sequence[Hashable], n: int) -> list[str]:
        keys = [str(g) for g in groups]
        if len(keys) != n:
            raise InputError(
                "groups",
                expected=f"one group key per case ({n})",
                found=f"{len(keys)}",
                fix="pass e.g. f'{sex}|{age_band(age)}' for every case",
            )
        return keys

    def predict_sets(
        self, proba: np.ndarray, groups: Sequence[Hashable] | None = None
    ) -> list[list[int]]:
        """Label indices in each case's set, by decreasing probability; never empty.

        Unknown or fallback groups use the pooled threshold. The top class is always
        included, so a set is at worst the model's own answer.
        """
        proba = _check_proba(proba)
        n = proba.shape[0]
        if groups is None:
            q = np.full(n, self.threshold)
        else:
            keys = self._keys(groups, n)
            q = np.array([self.group_thresholds.get(k, self.threshold) for k in keys])
        u = np.asarray(np.random.default_rng(self.seed + 1).random(n))
        scores = _all_scores(proba, u, self.lam, self.k_reg)
        order = np.argsort(-proba, axis=1, kind="stable")
        sorted_scores = np.take_along_axis(scores, order, axis=1)
        sizes = np.maximum(1, (sorted_scores <= q[:, None]).sum(axis=1))
        return [order[i, : sizes[i]].tolist() for i in range(n)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, for the ``conformal`` entry of a model manifest."""
        return {
            "alpha": self.alpha,
            "lam": self.lam,
            "k_reg": self.k_reg,
            "seed": self.seed,
            "threshold": self.threshold,
            "group_thresholds": dict(self.group_thresholds),
            "fallback_groups": list(self.fallback_groups),
            "n_calibration": self.n_calibration,
            "scores": list(self.scores),
            "score_groups": list(self.score_groups),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConformalPredictor:
        """Inverse of :meth:`to_dict`."""
        return cls(
            alpha=float(data["alpha"]),
            lam=float(data.get("lam", 0.0)),
            k_reg=int(data.get("k_reg", 0)),
            seed=int(data.get("seed", 0)),
            threshold=float(data["threshold"]),
            group_thresholds={str(k): float(v) for k, v in data["group_thresholds"].items()},
            fallback_groups=[str(g) for g in data.get("fallback_groups", [])],
            n_calibration=int(data.get("n_calibration", 0)),
            scores=[float(v) for v in data.get("scores", [])],
            score_groups=[str(g) for g in data.get("score_groups", [])],
        )


def abstain(
    proba_row: np.ndarray,
    prediction_set: Sequence[int],
    labels: Sequence[str],
    red_flag_labels: set[str],
    max_set_size: int = 5,
    *,
    level: float = 0.9,
) -> tuple[bool, str]:
    """Whether to refer to a clinician instead of answering, and why.

    Abstain when the set is too large to be useful, or when a red-flag (emergency)
    condition is in the set but is not the top answer: it must be ruled out first.

    >>> labels = ["Common cold", "Pulmonary embolism", "Asthma"]
    >>> abstain(np.array([0.6, 0.3, 0.1]), [0, 1], labels, {"Pulmonary embolism"})
    (True, 'Pulmonary embolism is in the 90% set but not the top answer: rule it out first')
    >>> abstain(np.array([0.6, 0.3, 0.1]), [0, 2], labels, {"Pulmonary embolism"})
    (False, '')
    """
    if len(prediction_set) > max_set_size:
        return True, (
            f"prediction set holds {len(prediction_set)} conditions (> {max_set_size}): "
            "the model cannot narrow it down"
        )
    top = int(np.argmax(proba_row))
    ranked = sorted(prediction_set, key=lambda i: -float(proba_row[i]))
    for i in ranked:
        if i != top and labels[i] in red_flag_labels:
            return True, (
                f"{labels[i]} is in the {level:.0%} set but not the top answer: rule it out first"
            )
    return False, ""


def coverage(sets: Sequence[Sequence[int]], y: Sequence[int] | np.ndarray) -> float:
    """Fraction of cases whose true label is in their set.

    >>> coverage([[0, 1], [2]], [1, 0])
    0.5
    """
    if len(sets) == 0:
        return float("nan")
    return float(np.mean([int(t) in s for s, t in zip(sets, y, strict=True)]))


def mean_set_size(sets: Sequence[Sequence[int]]) -> float:
    """Average number of labels per set.

    >>> mean_set_size([[0, 1], [2]])
    1.5
    """
    return float(np.mean([len(s) for s in sets])) if len(sets) else float("nan")
