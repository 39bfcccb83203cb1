"""Isotonic calibration of a risk on a validation split, stored as plain numbers.

Why isotonic rather than temperature scaling: a boosted model's raw risks are often
mis-shaped, not just over- or under-confident, and with ~400 deaths there is enough data
for a monotone map (Niculescu-Mizil & Caruana, ICML 2005). The map is kept as its knots
(``x``, ``y``) so a saved model needs no pickle for it, and applying it is ``np.interp``.
A few raw risks that tie into one plateau would lose ranking; a tiny share of the raw
risk is kept so the calibrated risk stays strictly monotone and AUROC is preserved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dxkit.errors import InputError

_KEEP_RAW = 1e-3  # share of the raw risk mixed back in to break isotonic ties


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


def fit_isotonic(raw: np.ndarray, y_true: np.ndarray) -> IsotonicMap:
    """Fit the map on validation risks and outcomes (both shape (n,)).

    Raises:
        InputError: fewer than 20 stays or only one outcome class in the split.
    """
    from sklearn.isotonic import IsotonicRegression

    raw, y = np.asarray(raw, dtype=float), np.asarray(y_true, dtype=float)
    if raw.size < 20 or not 0 < y.sum() < y.size:
        raise InputError(
            "calibration split",
            expected="at least 20 stays with both outcomes",
            found=f"{raw.size} stays, {int(y.sum())} positive",
            fix="use more training records or a larger --valid-fraction",
        )
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, y)
    x = np.concatenate([[0.0], iso.X_thresholds_, [1.0]])
    fitted = np.concatenate([[iso.y_thresholds_[0]], iso.y_thresholds_, [iso.y_thresholds_[-1]]])
    x, idx = np.unique(x, return_index=True)
    return IsotonicMap(x, fitted[idx])
