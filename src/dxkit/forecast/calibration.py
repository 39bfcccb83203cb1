"""Isotonic or Platt calibration of a risk on out-of-fold risks, stored as plain numbers.

Why isotonic rather than temperature scaling: a boosted model's raw risks are often
mis-shaped, not just over- or under-confident, and with ~400 deaths there is enough data
for a monotone map (Niculescu-Mizil & Caruana, ICML 2005). The map is kept as its knots
(``x``, ``y``) so a saved model needs no pickle for it, and applying it is ``np.interp``.
A few raw risks that tie into one plateau would lose ranking; a tiny share of the raw
risk is kept so the calibrated risk stays strictly monotone and AUROC is preserved.
Platt scaling (a logistic map of the raw logit, i.e. temperature plus a bias) is the
option for small training sets, where an isotonic map's steps follow noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from dxkit.errors import InputError

_KEEP_RAW = 1e-3  # share of the raw risk mixed back in to break isotonic ties
_EPS = 1e-6  # raw risks are clipped into [eps, 1 - eps] before taking the logit
METHODS = ("isotonic", "platt")


class RiskMap(Protocol):
    """A monotone map from raw to calibrated risk that serialises to plain JSON."""

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated risks, same shape as ``raw``, in [0, 1]."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters, with a ``method`` key."""
        ...


@dataclass(frozen=True)
class IsotonicMap:
    """A monotone map from raw to calibrated risk, linear between knots.

    >>> m = IsotonicMap(np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.2, 1.0]))
    >>> m(np.array([0.25, 0.75])).round(3).tolist()
    [0.1, 0.6]
    """

    x: np.ndarray
    y: np.ndarray

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated risks, same shape as ``raw``, clipped into [0, 1]."""
        out = np.interp(raw, self.x, self.y)
        clipped: np.ndarray = np.clip((1 - _KEEP_RAW) * out + _KEEP_RAW * raw, 0.0, 1.0)
        return clipped

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready knots (stored in the model manifest)."""
        return {"method": "isotonic", "x": self.x.tolist(), "y": self.y.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IsotonicMap:
        """Rebuild from :meth:`to_dict` output."""
        return cls(np.asarray(data["x"], dtype=float), np.asarray(data["y"], dtype=float))


def identity_map() -> IsotonicMap:
    """The map that changes nothing (a model saved without calibration)."""
    return IsotonicMap(np.array([0.0, 1.0]), np.array([0.0, 1.0]))


def _checked(raw: np.ndarray, y_true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r, y = np.asarray(raw, dtype=float), np.asarray(y_true, dtype=float)
    if r.size < 20 or not 0 < y.sum() < y.size:
        raise InputError(
            "calibration split",
            expected="at least 20 stays with both outcomes",
            found=f"{r.size} stays, {int(y.sum())} positive",
            fix="use more training records or a larger --valid-fraction",
        )
    return r, y


def fit_isotonic(raw: np.ndarray, y_true: np.ndarray) -> IsotonicMap:
    """Fit the map on validation risks and outcomes (both shape (n,)).

    Raises:
        InputError: fewer than 20 stays or only one outcome class in the split.
    """
    from sklearn.isotonic import IsotonicRegression

    raw, y = _checked(raw, y_true)
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, y)
    x = np.concatenate([[0.0], iso.X_thresholds_, [1.0]])
    fitted = np.concatenate([[iso.y_thresholds_[0]], iso.y_thresholds_, [iso.y_thresholds_[-1]]])
    x, idx = np.unique(x, return_index=True)
    return IsotonicMap(x, fitted[idx])


@dataclass(frozen=True)
class PlattMap:
    """``sigmoid(slope * logit(raw) + bias)``: temperature ``1 / slope`` plus a shift.

    >>> PlattMap(1.0, 0.0)(np.array([0.2, 0.9])).round(3).tolist()
    [0.2, 0.9]
    """

    slope: float
    bias: float

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated risks, same shape as ``raw``, in (0, 1)."""
        p = np.clip(np.asarray(raw, dtype=float), _EPS, 1 - _EPS)
        z = self.slope * np.log(p / (1 - p)) + self.bias
        out: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters (stored in the model manifest)."""
        return {"method": "platt", "slope": self.slope, "bias": self.bias}


def fit_platt(raw: np.ndarray, y_true: np.ndarray) -> PlattMap:
    """Fit slope and bias by (nearly unpenalised) logistic regression on the raw logit.

    Raises:
        InputError: fewer than 20 stays or only one outcome class in the split.
    """
    from sklearn.linear_model import LogisticRegression

    raw, y = _checked(raw, y_true)
    p = np.clip(raw, _EPS, 1 - _EPS)
    fit = LogisticRegression(C=1e6).fit(np.log(p / (1 - p))[:, None], y.astype(int))
    return PlattMap(float(fit.coef_[0, 0]), float(fit.intercept_[0]))


def fit_calibration(raw: np.ndarray, y_true: np.ndarray, method: str = "isotonic") -> RiskMap:
    """Fit the map named by ``method`` (one of :data:`METHODS`).

    Raises:
        InputError: an unknown method, or too few stays (see :func:`fit_isotonic`).
    """
    if method == "platt":
        return fit_platt(raw, y_true)
    if method != "isotonic":
        raise InputError(
            "calibration method",
            expected=" or ".join(METHODS),
            found=repr(method),
            fix="pass --calibration isotonic or --calibration platt",
        )
    return fit_isotonic(raw, y_true)


def map_from_dict(data: dict[str, Any]) -> RiskMap:
    """Rebuild any map from its ``to_dict`` output (isotonic when no method is stored)."""
    if data.get("method") == "platt":
        return PlattMap(float(data["slope"]), float(data["bias"]))
    return IsotonicMap.from_dict(data)
