"""Tabular vector: age, sex, observations relative to normal ranges, lifestyle flags."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from dxkit.cases.schema import Case, Lifestyle, Observation
from dxkit.features.tabular import (
    Z_CLIP,
    range_score,
    tabular_feature_names,
    tabular_features,
    tabular_matrix,
)
from dxkit.quality.catalogue import catalogue_by_key


def features(case: Case) -> dict[str, float]:
    return dict(zip(tabular_feature_names(), tabular_features(case).tolist(), strict=True))


def test_layout_covers_every_catalogue_key() -> None:
    names = tabular_feature_names()
    assert len(names) == len(set(names))
    for key in catalogue_by_key():
        assert f"{key}_z" in names and f"{key}_present" in names
    assert tabular_features(Case(case_id="x")).shape == (len(names),)


def test_empty_case_flags_everything_missing() -> None:
    v = features(Case(case_id="x"))
    assert v["age_missing"] == 1.0 and v["sex_unknown"] == 1.0
    assert all(v[f"{k}_present"] == 0.0 and v[f"{k}_z"] == 0.0 for k in catalogue_by_key())


def test_values_are_converted_and_scored_against_the_normal_range() -> None:
    case = Case(
        case_id="x",
        age=93,
        sex="F",
        observations=[
            Observation(code="8310-5", value=101.3, unit="[degF]"),  # 38.5 Cel
            Observation(code="59408-5", value=0.88, unit="1"),  # 88 %
        ],
    )
    v = features(case)
    assert v["age"] == pytest.approx(0.93) and v["sex_female"] == 1.0
    # temperature normal 36.1-37.8: centre 36.95, half-width 0.85
    assert v["temperature_z"] == pytest.approx((38.5 - 36.95) / 0.85, rel=1e-4)
    assert v["spo2_z"] == pytest.approx((88 - 97.5) / 2.5, rel=1e-4)
    assert v["temperature_present"] == v["spo2_present"] == 1.0


def test_latest_reading_wins_and_unconvertible_units_are_skipped() -> None:
    case = Case(
        case_id="x",
        observations=[
            Observation(code="8867-4", value=150, unit="/min", time=datetime(2024, 1, 2)),
            Observation(code="8867-4", value=80, unit="/min", time=datetime(2024, 1, 1)),
            Observation(code="8310-5", value=38.0, unit="mmol/L"),
        ],
    )
    v = features(case)
    assert v["heart_rate_z"] == pytest.approx((150 - 80) / 20)  # normal 60-100
    assert v["temperature_present"] == 0.0


def test_scores_are_clipped_and_zero_width_ranges_do_not_divide_by_zero() -> None:
    spec = catalogue_by_key()["heart_rate"]
    assert range_score(spec, 10_000) == Z_CLIP
    nitrite = catalogue_by_key()["urine_nitrite"]
    assert np.isfinite(range_score(nitrite, 1.0)) and range_score(nitrite, 1.0) > 0


def test_lifestyle_flags_and_matrix() -> None:
    case = Case(
        case_id="x", lifestyle=Lifestyle(smoking="Current", alcohol="heavy", activity="sedentary")
    )
    v = features(case)
    assert v["smoking_current"] == v["alcohol_heavy"] == v["activity_sedentary"] == 1.0
    assert v["smoking_former"] == v["activity_active"] == 0.0
    m = tabular_matrix([case, Case(case_id="y")])
    assert m.shape == (2, len(tabular_feature_names())) and m.dtype == np.float32
    assert tabular_matrix([]).shape == (0, len(tabular_feature_names()))
