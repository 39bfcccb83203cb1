"""Temperature scaling (Guo et al., ICML 2017) for any model behind the contract.

Why: a logistic regression stopped early, or a network trained to convergence, ranks
well but states its probabilities badly (too flat or too sharp). One scalar T fitted on
held-out validation cases by minimising the negative log-likelihood rescales the
log-probabilities without changing the ranking. The temperature is stored in the model's
manifest, so a saved model keeps its calibration.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
from scipy.optimize import minimize_scalar

from dxkit.calibrate.conformal import ConformalPredictor
from dxkit.cases.schema import Case, age_band
from dxkit.errors import InputError
from dxkit.models.base import MANIFEST, DiagnosisModel, atomic_write_text

_EPS = 1e-12
# Conformal settings, measured on the demo cohort (300 calibration / 300 test cases, 162
# labels, alpha 0.1): plain APS gave coverage 0.960 with 10.4 conditions per set; RAPS with
# lambda 0.05, k_reg 2 gave 0.947 with 2.7. Groups smaller than MIN_GROUP_CASES get no
# threshold of their own (per-group quantiles of ~20 cases gave 13-condition sets).
RAPS_LAMBDA = 0.05
RAPS_K = 2
MIN_GROUP_CASES = 100


def apply_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax of ``log(proba) / T``; T > 1 flattens, T < 1 sharpens.

    >>> p = np.array([[0.7, 0.2, 0.1]])
    >>> apply_temperature(p, 1.0).round(3).tolist()
    [[0.7, 0.2, 0.1]]
    >>> bool(apply_temperature(p, 0.5)[0, 0] > 0.7)
    True
    """
    logits = np.log(np.clip(proba, _EPS, 1.0)) / temperature  # (n, c)
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    out: np.ndarray = scaled / scaled.sum(axis=1, keepdims=True)
    return out


def fit_temperature(proba: np.ndarray, y_true: np.ndarray) -> float:
    """The T in [0.02, 50] minimising validation NLL; cases with unseen labels are skipped.

    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 500)
    >>> sharp = np.full((500, 3), 0.001); sharp[np.arange(500), y] = 0.998
    >>> noisy = np.where(rng.random(500) < 0.3, (y + 1) % 3, y)  # 70% right, claims 99.8%
    >>> fit_temperature(sharp, noisy) > 1.5
    True
    """
    keep = y_true >= 0
    if keep.sum() < 20:
        raise InputError(
            "calibration set",
            expected="at least 20 validation cases with labels the model knows",
            found=f"{int(keep.sum())}",
            fix="use more data or a larger validation fraction",
        )
    logp = np.log(np.clip(proba[keep], _EPS, 1.0))
    y = y_true[keep]

    def nll(log_t: float) -> float:
        z = logp / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(z).sum(axis=1))
        return float(np.mean(log_norm - z[np.arange(len(y)), y]))

    result = minimize_scalar(nll, bounds=(np.log(0.02), np.log(50.0)), method="bounded")
    return float(np.exp(result.x))


def subgroup_key(case: Case) -> str:
    """The group of a case for group-conditional coverage: sex and age band."""
    return f"{case.sex.value}|{age_band(case.age)}"


class CalibratedModel:
    """A fitted model plus a temperature; saves both into the model's own directory."""

    def __init__(
        self,
        inner: DiagnosisModel,
        temperature: float,
        report: dict[str, Any],
        conformal: ConformalPredictor | None = None,
    ) -> None:
        self.inner = inner
        self.temperature = temperature
        self.report = report  # ECE / NLL before and after, on the calibration cases
        self.conformal = conformal  # prediction sets at conformal.alpha, if fitted
        self.labels = list(inner.labels)
        self.kind = str(getattr(inner, "kind", type(inner).__name__))
        self.model_id: str = str(getattr(inner, "model_id", "unsaved"))
        self.trained_at: str | None = getattr(inner, "trained_at", None)

    @classmethod
    def calibrate(
        cls,
        model: DiagnosisModel,
        cases: Sequence[Case],
        y: Sequence[str],
        *,
        alpha: float | None = 0.1,
    ) -> CalibratedModel:
        """Fit the temperature of ``model`` on held-out ``cases`` with labels ``y``.

        With ``alpha`` the same cases then fit group-conditional (sex x age band) conformal
        sets on the calibrated probabilities; skipped when there are too few cases for it.
        """
        from dxkit.evaluate.metrics import expected_calibration_error, negative_log_likelihood

        index = {label: i for i, label in enumerate(model.labels)}
        y_idx = np.array([index.get(label, -1) for label in y])
        proba = model.predict_proba(cases)  # (n, n_labels)
        temperature = fit_temperature(proba, y_idx)
        known = y_idx >= 0
        after = apply_temperature(proba, temperature)
        report = {
            "n": int(known.sum()),
            "ece_before": expected_calibration_error(y_idx[known], proba[known]),
            "ece_after": expected_calibration_error(y_idx[known], after[known]),
            "nll_before": negative_log_likelihood(y_idx[known], proba[known]),
            "nll_after": negative_log_likelihood(y_idx[known], after[known]),
        }
        rounded = {k: round(float(v), 4) for k, v in report.items()}
        conformal = None
        if alpha is not None and known.sum() >= math.ceil(1 / alpha):
            keys = [subgroup_key(c) for c, k in zip(cases, known, strict=True) if k]
            counts = Counter(keys)
            groups = [key if counts[key] >= MIN_GROUP_CASES else "small groups" for key in keys]
            conformal = ConformalPredictor().fit(
                after[known], y_idx[known], alpha, groups=groups, lam=RAPS_LAMBDA, k_reg=RAPS_K
            )
        return cls(model, temperature, rounded, conformal)

    def fit(self, *args: Any, **kwargs: Any) -> Self:
        """Refitting would invalidate the temperature; fit the inner model and recalibrate."""
        raise InputError(
            "CalibratedModel.fit",
            expected="an uncalibrated model",
            found="a calibrated one",
            fix="fit the inner model, then CalibratedModel.calibrate on validation cases",
        )

    def predict_proba(self, cases: Sequence[Case]) -> np.ndarray:
        """Calibrated probabilities, shape (n_cases, n_labels)."""
        return apply_temperature(self.inner.predict_proba(cases), self.temperature)

    def save(self, path: Path) -> None:
        """Save the inner model with the calibration in its manifest, as one atomic swap.

        Both are written into a temporary directory first, so a crash can never leave a
        model that loads but has silently lost its calibration.
        """
        from dxkit.models.shared import atomic_model_dir

        with atomic_model_dir(Path(path)) as tmp:
            self.inner.save(tmp)
            manifest = json.loads((tmp / MANIFEST).read_text(encoding="utf-8"))
            manifest["calibration"] = {"temperature": self.temperature, **self.report}
            if self.conformal is not None:
                manifest["conformal"] = self.conformal.to_dict()
            text = json.dumps(manifest, indent=2, ensure_ascii=False)
            atomic_write_text(tmp / MANIFEST, text)

    @classmethod
    def load(cls, path: Path) -> Self:
        """Load via :func:`dxkit.models.base.load_model`, which applies the calibration."""
        from dxkit.models.base import load_model

        model = load_model(Path(path))
        if not isinstance(model, cls):
            raise InputError(
                "model directory",
                expected="a calibrated model (manifest with 'calibration')",
                found="an uncalibrated model",
                fix="calibrate it with CalibratedModel.calibrate and save again",
            )
        return model
