"""Gradient boosting on windowed summary features: the fast, strong forecasting baseline.

Two boosted models live in one forecaster. The *dedicated* model is trained at the
prediction time (24 or 48 h) and answers :meth:`GbmForecaster.predict_proba`. The
*risk-now* model is trained on rows of every stay at many cut-off hours (every 6 h and
2 h/4 h, with the cut as a feature), so each hour of :meth:`GbmForecaster.risk_curve` is
in the distribution it learnt; a model trained only at 48 h jumped between early hours.

LightGBM is used when installed (about 10x faster than scikit-learn's histogram
boosting here at equal or better AUROC); scikit-learn's
:class:`~sklearn.ensemble.HistGradientBoostingClassifier` is the fallback. Both handle
NaN natively (a missing lab is information, not an error). Settings were fixed in
advance on the inner validation split of fold 1 of ``benchmarks/forecast.py`` (never on
a test fold). The dedicated model fits its calibration map and alert threshold on
out-of-fold risks (``calibration_folds`` inner folds, then refits on all records); the
risk-now model calibrates on a held-out ``valid_fraction`` of stays.

Saved models hold ``gbm.joblib`` (and ``gbm_now.joblib``; pickles: load only
directories you trust) and a manifest with the feature layout, calibration parameters
and alert policy as plain JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Self

import numpy as np

from dxkit.errors import InputError, ModelFormatError
from dxkit.forecast.base import OUTCOME_LABELS, check_risk
from dxkit.forecast.calibration import (
    METHODS,
    RiskMap,
    fit_calibration,
    identity_map,
    map_from_dict,
)
from dxkit.forecast.features import (
    feature_matrix,
    feature_names,
    multi_cut_matrix,
    summarise_at,
)
from dxkit.forecast.metrics import AlertPolicy, alert_policy, risk_metrics
from dxkit.forecast.series import TimeSeriesRecord
from dxkit.models.base import read_manifest, write_manifest
from dxkit.models.shared import atomic_model_dir, not_fitted_error, require_files

KIND = "forecast-gbm"
MODEL_FILE = "gbm.joblib"
NOW_FILE = "gbm_now.joblib"
ENGINES = ("auto", "lightgbm", "sklearn")


@dataclass(frozen=True)
class GbmConfig:
    """Settings of :class:`GbmForecaster`, validated when built.

    ``threads`` defaults to 1: on a shared 2-core machine OpenMP threads that wait on
    each other made a fit 7x slower than one thread in our measurements.
    ``max_depth`` 0 means unlimited (leaves are capped by ``max_leaf_nodes``).
    The risk-now model is smaller (``now_*``; larger leaves, shallower trees) because it
    sees each stay at up to ten correlated cuts: a leaf of 30 rows would be three
    patients, and bigger trees lost discrimination at the last cut on fold 1's inner split.
    """

    hours: int = 48
    engine: str = "auto"
    learning_rate: float = 0.03
    max_iter: int = 600
    max_depth: int = 0
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 30
    l2_regularization: float = 2.0
    max_features: float = 0.5
    subsample: float = 0.8
    max_bins: int = 63
    calibration: str = "isotonic"
    valid_fraction: float = 0.2
    calibration_folds: int = 3
    now_model: bool = True
    now_step: int = 6
    now_min_samples_leaf: int = 400
    now_max_leaf_nodes: int = 8
    now_max_depth: int = 3
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
            "subsample": (0 < self.subsample <= 1, "a fraction in (0, 1]"),
            "threads": (self.threads >= 1, "an integer >= 1"),
            "engine": (self.engine in ENGINES, " or ".join(ENGINES)),
            "calibration": (self.calibration in METHODS, " or ".join(METHODS)),
            "now_step": (1 <= self.now_step <= 24, "an integer 1-24"),
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

    def now_cuts(self) -> list[float]:
        """Cut-off hours of the risk-now training rows: 2, 4, then every ``now_step`` h."""
        cuts = {2.0, 4.0, *map(float, range(self.now_step, self.hours + 1, self.now_step))}
        return sorted(c for c in cuts | {float(self.hours)} if c <= self.hours)


def _use_lightgbm(engine: str) -> bool:
    if engine == "sklearn":
        return False
    try:
        import lightgbm  # noqa: F401
    except ImportError:
        if engine == "lightgbm":
            raise InputError(
                "forecast option engine",
                expected="LightGBM installed for engine 'lightgbm'",
                found="no lightgbm package",
                fix="pip install lightgbm, or pass engine 'auto' or 'sklearn'",
            ) from None
        return False
    return True


def make_booster(config: GbmConfig, n_rows: int) -> Any:
    """An unfitted boosted-tree classifier with ``config``'s settings (LightGBM or sklearn)."""
    c = config
    leaf = min(c.min_samples_leaf, max(5, n_rows // 20))  # small data sets
    if _use_lightgbm(c.engine):
        from lightgbm import LGBMClassifier

        return LGBMClassifier(
            objective="binary",
            learning_rate=c.learning_rate,
            n_estimators=c.max_iter,
            num_leaves=c.max_leaf_nodes,
            max_depth=c.max_depth or -1,
            min_child_samples=leaf,
            reg_lambda=c.l2_regularization,
            colsample_bytree=c.max_features,
            subsample=c.subsample,
            subsample_freq=1 if c.subsample < 1 else 0,
            max_bin=c.max_bins,
            n_jobs=c.threads,
            random_state=c.seed,
            verbose=-1,
        )
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        learning_rate=c.learning_rate,
        max_iter=c.max_iter,
        max_depth=c.max_depth or None,
        max_leaf_nodes=c.max_leaf_nodes,
        min_samples_leaf=leaf,
        l2_regularization=c.l2_regularization,
        max_features=c.max_features,
        max_bins=c.max_bins,
        early_stopping=False,
        random_state=c.seed,
    )


@dataclass
class _Booster:
    """One fitted tree model with its kept columns and calibration map."""

    model: Any
    columns: np.ndarray
    calibration: RiskMap

    def raw(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict_proba(features[:, self.columns])[:, 1])


def _informative(x: np.ndarray) -> np.ndarray:
    """Indices of columns with at least two distinct non-missing values."""
    distinct = [np.unique(col[~np.isnan(col)]).size for col in x.T]
    return np.flatnonzero(np.asarray(distinct) >= 2)


def _check_training(x: np.ndarray, labels: np.ndarray) -> None:
    if x.shape[0] != labels.size or labels.size < 50 or not 0 < labels.sum() < labels.size:
        raise InputError(
            "forecast training data",
            expected="at least 50 records with both outcomes and one outcome per record",
            found=f"{x.shape[0]} records, {labels.size} outcomes, {int(labels.sum())} deaths",
            fix="pass more records and their outcomes file",
        )


class GbmForecaster:
    """In-hospital death risk at ``config.hours`` from windowed features (a ForecastModel)."""

    def __init__(self, config: GbmConfig | None = None) -> None:
        self.config = config or GbmConfig()
        self.hours = self.config.hours
        self.alert: AlertPolicy | None = None
        self.validation: dict[str, float] = {}
        self.now_validation: dict[str, float] = {}
        self._main: _Booster | None = None
        self._now: _Booster | None = None

    @property
    def calibration(self) -> RiskMap:
        """The dedicated model's calibration map (identity before fitting)."""
        return self._main.calibration if self._main else identity_map()

    def _limits(self) -> Any:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        return threadpool_limits(self.config.threads)

    def raw_features(self, features: np.ndarray) -> np.ndarray:
        """Uncalibrated model probability for a feature matrix (n, F), shape (n,).

        Explanations compare these: the isotonic map is a step function, so calibrated
        risks of a record with and without one signal are often exactly equal.
        """
        if self._main is None:
            raise not_fitted_error("GbmForecaster")
        with self._limits():
            return self._main.raw(features)

    def fit(self, records: Sequence[TimeSeriesRecord], y: Sequence[int] | np.ndarray) -> Self:
        """Train both models on records and 0/1 outcomes; calibrate; pick the alert threshold."""
        if len(records) != len(y):
            raise InputError(
                "forecast training data",
                expected="one outcome per record",
                found=f"{len(records)} records, {len(y)} outcomes",
                fix="align records with the outcomes file",
            )
        self.fit_features(feature_matrix(records, float(self.hours)), y)
        if self.config.now_model:
            x_now, owner = multi_cut_matrix(records, self.config.now_cuts())
            self.fit_now_features(x_now, np.asarray(y, dtype=int)[owner], owner)
        return self

    def fit_features(self, x: np.ndarray, y: Sequence[int] | np.ndarray) -> Self:
        """Train the dedicated model on a feature matrix (n, F) in feature_names order.

        Why: cross-validation computes features once and reuses them in every fold.
        """
        from sklearn.model_selection import StratifiedKFold, train_test_split

        labels = np.asarray(y, dtype=int)
        _check_training(x, labels)
        c = self.config
        raw = np.zeros(labels.size)  # out-of-fold raw risk: calibration never sees fitted rows
        if c.calibration_folds >= 2:
            folds = StratifiedKFold(c.calibration_folds, shuffle=True, random_state=c.seed)
            for train, valid in folds.split(x, labels):
                raw[valid] = self._trees(x[train], labels[train]).raw(x[valid])
            main = self._trees(x, labels)
        else:
            train, valid = train_test_split(
                np.arange(labels.size),
                test_size=c.valid_fraction,
                stratify=labels,
                random_state=c.seed,
            )
            main = self._trees(x[train], labels[train])
            raw, labels = main.raw(x[valid]), labels[valid]
        main.calibration = fit_calibration(raw, labels, c.calibration)
        self._main = main
        risk = main.calibration(raw)
        self.alert = alert_policy(labels, risk, c.alert_sensitivity)
        self.validation = risk_metrics(labels, risk)
        return self

    def fit_now_features(self, x: np.ndarray, y: np.ndarray, owner: np.ndarray) -> Self:
        """Train the risk-now model on multi-cut rows (see :func:`multi_cut_matrix`).

        Args:
            x: (rows, F) features of stays at several cuts, the cut included as a feature.
            y: (rows,) the stay's outcome on each row.
            owner: (rows,) stay index of each row; the calibration split is by stay, so
                no stay has rows on both sides.
        """
        from sklearn.model_selection import GroupShuffleSplit

        labels = np.asarray(y, dtype=int)
        _check_training(x, labels)
        c = self.config
        split = GroupShuffleSplit(1, test_size=c.valid_fraction, random_state=c.seed)
        train, valid = next(split.split(x, labels, groups=owner))
        now_config = replace(
            c,
            min_samples_leaf=c.now_min_samples_leaf,
            max_leaf_nodes=c.now_max_leaf_nodes,
            max_depth=c.now_max_depth,
        )
        # later cuts weigh more (cut / hours): the curve's end must match the dedicated
        # model, and the early hours still train on every stay
        cut = x[train, feature_names().index("record:cut")]
        weight = np.clip(np.nan_to_num(cut / self.hours, nan=1.0), 0.05, 1.0)
        now = self._trees(x[train], labels[train], config=now_config, weight=weight)
        raw = now.raw(x[valid])
        now.calibration = fit_calibration(raw, labels[valid], c.calibration)
        self._now = now
        self.now_validation = risk_metrics(labels[valid], now.calibration(raw))
        return self

    def _trees(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        config: GbmConfig | None = None,
        weight: np.ndarray | None = None,
    ) -> _Booster:
        columns = _informative(x)
        model = make_booster(config or self.config, y.size)
        with self._limits():
            model.fit(x[:, columns], y, sample_weight=weight)
        return _Booster(model, columns, identity_map())

    def predict_features(self, features: np.ndarray) -> np.ndarray:
        """Calibrated risk for a precomputed feature matrix (n, F) in feature_names order."""
        return check_risk(self.calibration(self.raw_features(features)), "forecast risk")

    def predict_now_features(self, features: np.ndarray) -> np.ndarray:
        """Calibrated risk-now for feature rows at any cut (the dedicated model if none)."""
        if self._now is None:
            return self.predict_features(features)
        with self._limits():
            raw = self._now.raw(features)
        return check_risk(self._now.calibration(raw), "forecast risk-now")

    def predict_proba(self, records: Sequence[TimeSeriesRecord]) -> np.ndarray:
        """Calibrated risk of in-hospital death from data up to ``hours``, shape (n,)."""
        return self.predict_features(feature_matrix(records, float(self.hours)))

    def risk_curve(self, record: TimeSeriesRecord) -> np.ndarray:
        """Risk at the end of each hour 1..hours, each from readings up to then, (hours,).

        Computed by the risk-now model, trained on cuts across the whole window, so
        early hours are in distribution; its last point is close to, not equal to,
        :meth:`predict_proba` (the dedicated model). A model saved without a risk-now
        model falls back to the dedicated one.
        """
        rows = summarise_at(record, np.arange(1, self.hours + 1, dtype=float))
        return self.predict_now_features(rows)

    def save(self, path: Path) -> None:
        """Write the tree models and the manifest (layout, calibration, alert policy)."""
        import joblib

        if self._main is None:
            raise not_fitted_error("GbmForecaster")
        files = [MODEL_FILE] + ([NOW_FILE] if self._now else [])
        with atomic_model_dir(Path(path)) as tmp:
            joblib.dump(self._main.model, tmp / MODEL_FILE, compress=3)
            if self._now is not None:
                joblib.dump(self._now.model, tmp / NOW_FILE, compress=3)
            write_manifest(
                tmp,
                KIND,
                OUTCOME_LABELS,
                config=asdict(self.config),
                features=list(feature_names()),
                columns=self._main.columns.tolist(),
                calibration=None,
                risk_calibration=self._main.calibration.to_dict(),
                now=None
                if self._now is None
                else {
                    "columns": self._now.columns.tolist(),
                    "risk_calibration": self._now.calibration.to_dict(),
                    "validation": self.now_validation,
                },
                alert=self.alert.to_dict() if self.alert else None,
                validation=self.validation,
                files=files,
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
        now = manifest.get("now")
        require_files(path, [MODEL_FILE] + ([NOW_FILE] if now else []))
        if manifest.get("features") != list(feature_names()):
            raise ModelFormatError(
                "forecast model features",
                expected="the feature layout of this dxkit version",
                found="a different signal table or feature set",
                fix="retrain with `dxkit forecast train`",
            )
        model = cls(GbmConfig.from_dict(manifest.get("config", {})))
        model._main = _Booster(
            joblib.load(path / MODEL_FILE),
            np.asarray(manifest["columns"], dtype=int),
            map_from_dict(manifest["risk_calibration"]),
        )
        if now:
            model._now = _Booster(
                joblib.load(path / NOW_FILE),
                np.asarray(now["columns"], dtype=int),
                map_from_dict(now["risk_calibration"]),
            )
            model.now_validation = dict(now.get("validation", {}))
        alert = manifest.get("alert")
        model.alert = AlertPolicy(**alert) if alert else None
        model.validation = dict(manifest.get("validation", {}))
        return model
