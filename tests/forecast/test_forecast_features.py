"""Windowed features by hand on a tiny record, multi-cut rows and calibration maps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dxkit.errors import InputError
from dxkit.forecast.calibration import PlattMap, fit_calibration, fit_platt, map_from_dict
from dxkit.forecast.features import (
    feature_groups,
    feature_matrix,
    feature_names,
    multi_cut_matrix,
    summarise,
    summarise_at,
)
from dxkit.forecast.series import SignalSeries, TimeSeriesRecord


def _series(times: list[float], values: list[float]) -> SignalSeries:
    return SignalSeries(np.array(times), np.array(values), np.ones(len(times), dtype=bool))


def _record() -> TimeSeriesRecord:
    """HR at 1, 3, 8, 20 h; creatinine/BUN once; SBP twice; urine twice; 80 kg."""
    return TimeSeriesRecord(
        "r1",
        static={
            "age": 70.0,
            "gender": 1.0,
            "height": 180.0,
            "weight_admit": 80.0,
            "icu_type": 2.0,
        },
        signals={
            "heart_rate": _series([1.0, 3.0, 8.0, 20.0], [80.0, 100.0, 90.0, 130.0]),
            "sbp_ni": _series([2.0, 19.0], [120.0, 100.0]),
            "bun": _series([5.0], [40.0]),
            "creatinine": _series([5.0], [2.0]),
            "urine": _series([4.0, 10.0], [200.0, 100.0]),
        },
    )


def _get(row: np.ndarray, name: str) -> float:
    return float(row[feature_names().index(name)])


def test_signal_windows_by_hand() -> None:
    row = summarise(_record(), 10.0)  # HR readings 80, 100, 90 at 1, 3, 8 h
    assert row.shape == (len(feature_names()),)
    expected = {
        "heart_rate:last": 90.0, "heart_rate:first": 80.0, "heart_rate:min": 80.0,
        "heart_rate:max": 100.0, "heart_rate:mean": 90.0, "heart_rate:count": 3.0,
        "heart_rate:since_last": 2.0, "heart_rate:last_minus_first": 10.0,
        "heart_rate:last_minus_min": 10.0, "heart_rate:last_minus_max": -10.0,
        "heart_rate:std": math.sqrt(200 / 3),
        # least squares over (1, 80), (3, 100), (8, 90): tbar 4, slope 20 / 26
        "heart_rate:slope": 20 / 26,
        "heart_rate:recent_count": 1.0, "heart_rate:recent_mean": 90.0,  # (4, 10]
        "heart_rate:recent12_count": 3.0, "heart_rate:recent12_mean": 90.0,
        "heart_rate:early_mean": 90.0,  # readings at or before 6 h: 80, 100
        "urine:total": 300.0, "urine:recent_total": 100.0,
        "urine:ml_per_kg_h": 300 / 80 / 10, "urine:recent_ml_per_kg_h": 100 / 80 / 6,
        "derived:bun_creatinine": 20.0, "derived:shock_index": 90 / 100 * 100 / 120,
        "static:age": 70.0, "static:icu_2": 1.0, "static:icu_1": 0.0,
        "record:cut": 10.0, "record:hours": 10.0,  # urine at 10 h is the latest reading
    }  # fmt: skip
    for name, value in expected.items():
        assert _get(row, name) == pytest.approx(value), name
    for name in ("lactate:last", "lactate:slope", "heart_rate:recent_slope", "derived:pf_ratio"):
        assert math.isnan(_get(row, name)), name
    assert _get(row, "lactate:count") == 0.0
    assert _get(row, "record:readings_per_h") == pytest.approx((3 + 1 + 1 + 1 + 2) / 10)


def test_features_never_look_past_the_cut() -> None:
    rec = _record()
    early = summarise(rec, 2.5)
    assert _get(early, "heart_rate:count") == 1.0 and _get(early, "heart_rate:last") == 80.0
    assert math.isnan(_get(early, "heart_rate:slope")) and math.isnan(_get(early, "bun:last"))
    assert math.isnan(_get(early, "urine:total"))  # no urine yet: unknown, not zero
    late = summarise(rec, 48.0)
    assert _get(late, "heart_rate:last") == 130.0 and _get(late, "heart_rate:count") == 4.0


def test_multi_cut_rows_equal_single_cut_rows() -> None:
    rec = _record()
    many = summarise_at(rec, [2.5, 10.0, 48.0])
    assert many.shape == (3, len(feature_names()))
    for i, end in enumerate((2.5, 10.0, 48.0)):
        np.testing.assert_array_equal(many[i], summarise(rec, end))
    rows, owner = multi_cut_matrix([rec, TimeSeriesRecord("empty")], [6.0, 12.0])
    assert rows.shape == (4, len(feature_names())) and owner.tolist() == [0, 0, 1, 1]
    assert _get(rows[3], "record:cut") == 12.0 and _get(rows[3], "heart_rate:count") == 0.0
    assert feature_matrix([], 24.0).shape == (0, len(feature_names()))


def test_groups_cover_every_column_once() -> None:
    groups = feature_groups()
    columns = sorted(i for idx in groups.values() for i in idx)
    assert columns == list(range(len(feature_names())))
    assert {"heart_rate", "news2", "icu_type", "shock_index", "urine"} <= set(groups)


def test_platt_map_by_hand_and_round_trip() -> None:
    rng = np.random.default_rng(0)
    raw = rng.uniform(0.01, 0.99, 400)
    y = (rng.uniform(size=400) < raw).astype(int)  # already calibrated: slope ~1, bias ~0
    fitted = fit_platt(raw, y)
    assert 0.7 < fitted.slope < 1.3 and abs(fitted.bias) < 0.3
    half = PlattMap(0.5, 0.0)(np.array([0.9]))[0]  # sigmoid(0.5 * logit(0.9)) = 0.75
    assert half == pytest.approx(0.75)
    again = map_from_dict(fitted.to_dict())
    assert np.allclose(again(raw), fitted(raw))
    assert map_from_dict(fit_calibration(raw, y).to_dict())(raw).shape == (400,)
    with pytest.raises(InputError, match="calibration method: expected isotonic or platt"):
        fit_calibration(raw, y, "beta")
