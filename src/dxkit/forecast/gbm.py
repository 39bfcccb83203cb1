"""Gradient boosting on windowed summary features: the fast, strong forecasting baseline.

scikit-learn's :class:`~sklearn.ensemble.HistGradientBoostingClassifier` handles NaN
natively (a missing lab is information, not an error) and trains on 3,000 stays in
seconds, so no extra dependency is needed. Shallow trees, column subsampling and a
slow learning rate were chosen by patient-disjoint cross-validation on PhysioNet 2012
(``benchmarks/forecast.py``). The model trains on a stratified split and fits the
isotonic map and the alert threshold on out-of-fold risks (``calibration_folds``
inner folds, then the trees are refitted on all records), so neither is tuned on
rows the trees saw; ``calibration_folds=0`` uses one held-out ``valid_fraction``.

Saved models hold ``gbm.joblib`` (a pickle: load only directories you trust) and a
manifest with the feature layout, calibration knots and alert policy as plain JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Self

import numpy as np

from dxkit.errors import InputError, ModelFormatError
from dxkit.forecast.base import OUTCOME_LABELS, check_risk
from dxkit.forecast.calibration import IsotonicMap, fit_isotonic, identity_map
from dxkit.forecast.features import feature_matrix, feature_names, summarise
from dxkit.forecast.metrics import AlertPolicy, alert_policy, risk_metrics
from dxkit.forecast.series import TimeSeriesRecord
from dxkit.models.base import read_manifest, write_manifest
from dxkit.models.shared import atomic_model_dir, not_fitted_error, require_files

KIND = "forecast-gbm"
MODEL_FILE = "gbm.joblib"


@dataclass(frozen=True)
class GbmConfig:
    """Settings of :class:`GbmForecaster`, validated when built.

    ``threads`` defaults to 1: on a shared 2-core machine OpenMP threads that wait on
    each other made a fit 7x slower than one thread in our measurements.
    """

    hours: int = 48
    learning_rate: float = 0.02
    max_iter: int = 600
    max_depth: int = 3
    min_samples_leaf: int = 50
    l2_regularization: float = 2.0
    max_features: float = 0.2
    max_bins: int = 64
    valid_fraction: float = 0.2
    calibration_folds: int = 3
    alert_sensitivity: float = 0.8
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        checks = {
            "calibration_folds": (self.calibration_folds in (0, *range(2, 11)), "0 or 2-10"),
            "hours": (1 <= self.hours <= 240, "an integer 1-240"),
            "valid_fraction": (0.05 <= self.valid_fraction <= 0.5, "a fraction 0.05-0.5"),
            "alert_sensitivity": (0 < self.alert_sensitivity <= 1, "a fraction in (0, 1]"),
            "max_features": (0 < self.max_features <= 1, "a fraction in (0, 1]"),
            "threads": (self.threads >= 1, "an integer >= 1"),
        }
        for name, (ok, expected) in checks.items():
            if not ok:
                raise InputError(
                    f"forecast option {name}",
                    expected=expected,
                    found=repr(getattr(self, name)),
                    fix=f"pass {name} in range",
                )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GbmConfig:
        """Build from a manifest entry, ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class GbmForecaster:
    """In-hospital death risk at ``config.hours`` from windowed features (a ForecastModel)."""

    def __init__(self, config: GbmConfig | None = None) -> None:
        self.config = config or GbmConfig()
        self.hours = self.config.hours
        self.alert: AlertPolicy | None = None
        self.calibration: IsotonicMap = identity_map()
        self.validation: dict[str, float] = {}
        self.columns: np.ndarray = np.empty(0, dtype=int)  # kept feature indices
        self._model: Any = None

    def _limits(self) -> Any:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        return threadpool_limits(self.config.threads)

    def raw_features(self, features: np.ndarray) -> np.ndarray:
        """Uncalibrated model probability for a feature matrix (n, F), shape (n,).

        Explanations compare these: the isotonic map is a step function, so calibrated
        risks of a record with and without one signal are often exactly equal.
        """
        if self._model is None:
            raise not_fitted_error("GbmForecaster")
        with self._limits():
            return np.asarray(self._model.predict_proba(features[:, self.columns])[:, 1])

    def fit(self, records: Sequence[TimeSeriesRecord], y: Sequence[int] | np.ndarray) -> Self:
        """Train on records and 0/1 outcomes; calibrate and pick the alert threshold."""
        if len(records) != len(y):
            raise InputError(
                "forecast training data",
                expected="one outcome per record",
                found=f"{len(records)} records, {len(y)} outcomes",
                fix="align records with the outcomes file",
            )
        return self.fit_features(feature_matrix(records, float(self.hours)), y)

    def fit_features(self, x: np.ndarray, y: Sequence[int] | np.ndarray) -> Self:
        """Train on a precomputed feature matrix (n, F) in feature_names order.

        Why: cross-validation computes features once and reuses them in every fold.
        """
        from sklearn.model_selection import StratifiedKFold, train_test_split

        labels = np.asarray(y, dtype=int)
        if x.shape[0] != labels.size or labels.size < 50 or not 0 < labels.sum() < labels.size:
            raise InputError(
                "forecast training data",
                expected="at least 50 records with both outcomes and one outcome per record",
                found=f"{x.shape[0]} records, {labels.size} outcomes, {int(labels.sum())} deaths",
                fix="pass more records and their outcomes file",
            )
        distinct = [np.unique(col[~np.isnan(col)]).size for col in x.T]
        self.columns = np.flatnonzero(np.asarray(distinct) >= 2)
        raw = np.zeros(labels.size)  # out-of-fold raw risk: calibration never sees fitted rows
        if self.config.calibration_folds >= 2:
            folds = StratifiedKFold(
                self.config.calibration_folds, shuffle=True, random_state=self.config.seed
            ).split(x, labels)
            for train, valid in folds:
                raw[valid] = self._fit_trees(x[train], labels[train]).raw_features(x[valid])
            self._fit_trees(x, labels)
        else:
            train, valid = train_test_split(
                np.arange(labels.size),
                test_size=self.config.valid_fraction,
                stratify=labels,
                random_state=self.config.seed,
            )
            raw = self._fit_trees(x[train], labels[train]).raw_features(x[valid])
            labels = labels[valid]
        self.calibration = fit_isotonic(raw, labels)
        risk = self.calibration(raw)
        self.alert = alert_policy(labels, risk, self.config.alert_sensitivity)
        self.validation = risk_metrics(labels, risk)
        return self

    def _fit_trees(self, x: np.ndarray, y: np.ndarray) -> Self:
        from sklearn.ensemble import HistGradientBoostingClassifier

        c = self.config
        self._model = HistGradientBoostingClassifier(
            learning_rate=c.learning_rate,
            max_iter=c.max_iter,
            max_depth=c.max_depth,
            min_samples_leaf=min(c.min_samples_leaf, max(5, y.size // 20)),  # small data sets
            l2_regularization=c.l2_regularization,
            max_features=c.max_features,
            max_bins=c.max_bins,
            early_stopping=False,
            random_state=c.seed,
        )
        with self._limits():
            self._model.fit(x[:, self.columns], y)
        return self

    def predict_features(self, features: np.ndarray) -> np.ndarray:
        """Calibrated risk for a precomputed feature matrix (n, F) in feature_names order."""
        return check_risk(self.calibration(self.raw_features(features)), "forecast risk")

    def predict_proba(self, records: Sequence[TimeSeriesRecord]) -> np.ndarray:
        """Calibrated risk of in-hospital death from data up to ``hours``, shape (n,)."""
        return self.predict_features(feature_matrix(records, float(self.hours)))

    def risk_curve(self, record: TimeSeriesRecord) -> np.ndarray:
        """Risk at the end of each hour 1..hours, each from readings up to then, (hours,).

        Early hours see fewer readings than the model was trained on, so the curve is a
        running estimate; its last point equals :meth:`predict_proba`.
        """
        rows = np.vstack([summarise(record, float(h)) for h in range(1, self.hours + 1)])
        return self.predict_features(rows)

    def save(self, path: Path) -> None:
        """Write ``gbm.joblib`` and the manifest (layout, calibration, alert policy)."""
        import joblib

        if self._model is None:
            raise not_fitted_error("GbmForecaster")
        with atomic_model_dir(Path(path)) as tmp:
            joblib.dump(self._model, tmp / MODEL_FILE, compress=3)
            write_manifest(
                tmp,
                KIND,
                OUTCOME_LABELS,
                config=asdict(self.config),
                features=list(feature_names()),
                columns=self.columns.tolist(),
                calibration=None,
                risk_calibration=self.calibration.to_dict(),
                alert=self.alert.to_dict() if self.alert else None,
                validation=self.validation,
                files=[MODEL_FILE],
            )

    @classmethod
    def load(cls, path: Path) -> Self:
        """Read a directory written by :meth:`save`.

        Raises:
            ModelFormatError: wrong kind or version, a missing file, or a feature layout
                from another version of the signal table.
        """
        import joblib

        path = Path(path)
        manifest = read_manifest(path, kind=KIND)
        require_files(path, [MODEL_FILE])
        if manifest.get("features") != list(feature_names()):
            raise ModelFormatError(
                "forecast model features",
                expected="the feature layout of this dxkit version",
                found="a different signal table or feature set",
                fix="retrain with `dxkit forecast train`",
            )
        model = cls(GbmConfig.from_dict(manifest.get("config", {})))
        model.columns = np.asarray(manifest["columns"], dtype=int)
        model.calibration = IsotonicMap.from_dict(manifest["risk_calibration"])
        alert = manifest.get("alert")
        model.alert = AlertPolicy(**alert) if alert else None
        model.validation = dict(manifest.get("validation", {}))
        model._model = joblib.load(path / MODEL_FILE)
        return model
