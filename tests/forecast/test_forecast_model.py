"""The boosting forecaster: fit, calibrated risks, save/load, curves and explanations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dxkit.errors import InputError, ModelFormatError
from dxkit.forecast.base import ForecastModel, load_forecaster
from dxkit.forecast.explain import top_signals
from dxkit.forecast.gbm import GbmConfig, GbmForecaster
from dxkit.forecast.metrics import alert_policy, auroc, ece, risk_metrics
from dxkit.forecast.physionet import load_physionet, read_outcomes
from dxkit.forecast.workflow import with_outcomes

FAST = GbmConfig(hours=24, max_iter=40, learning_rate=0.2, min_samples_leaf=5, max_features=1.0,
                 valid_fraction=0.3, now_min_samples_leaf=20)  # fmt: skip


@pytest.fixture(scope="module")
def fitted(cohort: tuple[Path, Path]) -> tuple[GbmForecaster, list, np.ndarray]:  # type: ignore[type-arg]
    records, y, _ = with_outcomes(load_physionet(cohort[0]), read_outcomes(cohort[1]))
    return GbmForecaster(FAST).fit(records, y), records, y


def test_fit_separates_sick_stays_and_round_trips(fitted, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model, records, y = fitted
    assert isinstance(model, ForecastModel)
    risk = model.predict_proba(records)
    assert risk.shape == (80,) and np.isfinite(risk).all() and auroc(y, risk) > 0.95
    assert model.alert is not None and model.alert.sensitivity >= 0.8
    model.save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "dxkit-model.json").read_text())
    assert manifest["kind"] == "forecast-gbm" and manifest["config"]["hours"] == 24
    assert manifest["now"]["risk_calibration"]["method"] == "isotonic"
    loaded = load_forecaster(tmp_path / "m")
    assert np.allclose(loaded.predict_proba(records), risk)
    assert np.allclose(loaded.risk_curve(records[0]), model.risk_curve(records[0]))
    assert loaded.alert == model.alert


def test_risk_curve_and_top_signals(fitted) -> None:  # type: ignore[no-untyped-def]
    model, records, _ = fitted
    sick = records[0]  # every 4th stay is sick; record 0 is one
    curve = model.risk_curve(sick)
    assert curve.shape == (24,) and np.isfinite(curve).all()
    # the risk-now model is a second model: close to the dedicated one at the cut
    assert abs(curve[-1] - model.predict_proba([sick])[0]) < 0.2
    assert model.now_validation["auroc"] > 0.9
    top = top_signals(model, sick, top=3)
    assert top and top[0].delta > 0
    assert {c.signal for c in top} & {"heart_rate", "sbp_ni", "lactate", "news2", "qsofa"}


def test_errors_are_clear(tmp_path: Path, fitted) -> None:  # type: ignore[no-untyped-def]
    _, records, y = fitted
    with pytest.raises(InputError, match="at least 50 records with both outcomes"):
        GbmForecaster(FAST).fit(records[:10], y[:10])
    with pytest.raises(InputError, match="forecast option hours"):
        GbmConfig(hours=0)
    with pytest.raises(InputError, match="neither fitted nor loaded"):
        GbmForecaster().predict_proba(records[:1])
    with pytest.raises(ModelFormatError, match="does not exist or is not a directory"):
        load_forecaster(tmp_path / "missing")


def test_metrics_and_alert_policy_by_hand() -> None:
    y, risk = np.array([0, 0, 0, 1, 1]), np.array([0.1, 0.2, 0.6, 0.5, 0.9])
    policy = alert_policy(y, risk, target=1.0)
    assert policy.threshold == 0.5 and policy.sensitivity == 1.0
    assert policy.alerts_per_100 == 60.0 and policy.ppv == pytest.approx(2 / 3)
    assert ece([0, 1], [0.0, 1.0]) == 0.0
    assert risk_metrics(y, risk)["n"] == 5
    with pytest.raises(InputError, match="outcomes 0/1 and finite risks"):
        auroc([0, 1], [0.1, float("nan")])


def test_risk_now_curve_is_defined_every_hour_and_smooth(fitted) -> None:  # type: ignore[no-untyped-def]
    """Multi-cut training: no NaN at any hour, bounded jumps, sick stays rise early."""
    model, records, y = fitted
    curves = np.vstack([model.risk_curve(r) for r in records])  # (80, 24)
    assert curves.shape == (80, 24) and np.isfinite(curves).all()
    assert ((curves >= 0) & (curves <= 1)).all()
    assert np.abs(np.diff(curves, axis=1)).mean() < 0.1
    # from hour 6 on, the curve already separates the sick stays (in distribution early)
    assert auroc(y, curves[:, 5]) > 0.9


def test_platt_calibration_and_sklearn_engine(fitted) -> None:  # type: ignore[no-untyped-def]
    _, records, y = fitted
    config = GbmConfig(**{**FAST.__dict__, "calibration": "platt", "engine": "sklearn",
                          "now_model": False})  # fmt: skip
    model = GbmForecaster(config).fit(records, y)
    assert model.calibration.to_dict()["method"] == "platt"
    risk = model.predict_proba(records)
    assert auroc(y, risk) > 0.95 and ((risk > 0) & (risk < 1)).all()
    # no risk-now model: the curve falls back to the dedicated model at every hour
    assert model.risk_curve(records[0])[-1] == pytest.approx(risk[0])
    with pytest.raises(InputError, match="forecast option calibration: expected isotonic or"):
        GbmConfig(calibration="beta")
    with pytest.raises(InputError, match="forecast option engine"):
        GbmConfig(engine="xgb")


def test_now_cuts() -> None:
    assert GbmConfig(hours=24).now_cuts() == [2.0, 4.0, 6.0, 12.0, 18.0, 24.0]
    assert GbmConfig(hours=5, now_step=6).now_cuts() == [2.0, 4.0, 5.0]
