"""NEWS2, qSOFA and SOFA-like scores over time, against hand-computed examples."""

from __future__ import annotations

import math

import numpy as np

from dxkit.cases.schema import Case, Observation
from dxkit.forecast.checks import assemble_record
from dxkit.forecast.scores import news2_series, qsofa_series, score_timeline, sofa_series
from dxkit.forecast.series import TimeSeriesRecord
from dxkit.triage.news2 import news2


def _record(**values: float) -> TimeSeriesRecord:
    readings = [(0.5, key, value, None) for key, value in values.items()]
    return assemble_record("s1", {}, readings)


SICK = dict(heart_rate=115, resp_rate=26, sao2=90, temperature=38.5, gcs=15, sbp_ni=95,
            fio2=0.4, pao2=80, platelets=90, bilirubin=2.5, map_ni=65, creatinine=1.5)  # fmt: skip


def test_news2_matches_the_triage_chart() -> None:
    # RR 26 -> 3, SpO2 90 -> 3, oxygen -> 2, SBP 95 -> 2, pulse 115 -> 2, alert -> 0,
    # 38.5 Cel -> 1: NEWS2 13, the same as the bedside triage score.
    at = np.array([1.0, 8.0])
    scores = news2_series(_record(**SICK), at)
    case = Case(case_id="c", observations=[
        Observation(code="8867-4", value=115, unit="/min"),
        Observation(code="9279-1", value=26, unit="/min"),
        Observation(code="59408-5", value=90, unit="%"),
        Observation(code="8310-5", value=38.5, unit="Cel"),
        Observation(code="80288-4", value=0, unit="{ACVPU}"),
        Observation(code="8480-6", value=95, unit="mm[Hg]"),
        Observation(code="3151-8", value=4, unit="L/min"),
    ])  # fmt: skip
    assert scores[0] == news2(case).score == 13
    assert math.isnan(scores[1])  # 7.5 h later the vitals are stale: unknown, not 0


def test_qsofa_and_sofa_by_hand() -> None:
    record = _record(**SICK)
    at = np.array([1.0])
    assert qsofa_series(record, at).tolist() == [2.0]  # RR >= 22, SBP <= 100, GCS 15
    # P/F 80/0.4 = 200 -> 2 (capped, not ventilated), platelets 90 -> 2, bilirubin 2.5 -> 2,
    # MAP 65 -> 1, GCS 15 -> 0, creatinine 1.5 -> 1: total 8.
    assert sofa_series(record, at).tolist() == [8.0]
    ventilated = _record(**{**SICK, "pao2": 70.0, "mech_vent": 1.0})
    assert sofa_series(ventilated, at).tolist() == [9.0]  # P/F 175 ventilated -> 3


def test_timeline_is_nan_without_inputs_and_has_one_value_per_hour() -> None:
    empty = score_timeline(TimeSeriesRecord("e"), 4)
    assert empty.hours.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert np.isnan(empty.news2).all() and np.isnan(empty.sofa).all()
    calm = score_timeline(_record(heart_rate=70, resp_rate=16, temperature=37.0), 2)
    assert calm.news2.tolist() == [0.0, 0.0] and calm.qsofa.tolist() == [0.0, 0.0]
