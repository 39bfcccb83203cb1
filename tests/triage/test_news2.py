"""NEWS2 scoring against the RCP 2017 chart."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dxkit.cases.schema import Case, Observation
from dxkit.errors import InputError
from dxkit.triage.news2 import news2

CODES = {
    "rr": ("9279-1", "/min"),
    "spo2": ("59408-5", "%"),
    "o2": ("3151-8", "L/min"),
    "sbp": ("8480-6", "mm[Hg]"),
    "hr": ("8867-4", "/min"),
    "acvpu": ("80288-4", "{ACVPU}"),
    "temp": ("8310-5", "Cel"),
}


def vitals(**values: float) -> Case:
    observations = [
        Observation(code=CODES[k][0], value=v, unit=CODES[k][1]) for k, v in values.items()
    ]
    return Case(case_id="v", observations=observations)


NORMAL = {"rr": 16, "spo2": 98, "o2": 0, "sbp": 125, "hr": 70, "acvpu": 0, "temp": 37.0}


def test_normal_vitals_score_zero_and_low_risk() -> None:
    result = news2(vitals(**NORMAL))
    assert (result.score, result.risk, result.missing) == (0, "low", [])
    assert set(result.components) == {
        "respiratory_rate",
        "spo2",
        "air_or_oxygen",
        "systolic_bp",
        "pulse",
        "consciousness",
        "temperature",
    }


@pytest.mark.parametrize(
    ("key", "value", "component", "expected"),
    [
        ("rr", 8, "respiratory_rate", 3),
        ("rr", 9, "respiratory_rate", 1),
        ("rr", 21, "respiratory_rate", 2),
        ("rr", 25, "respiratory_rate", 3),
        ("spo2", 91, "spo2", 3),
        ("spo2", 93, "spo2", 2),
        ("spo2", 95, "spo2", 1),
        ("o2", 2, "air_or_oxygen", 2),
        ("sbp", 90, "systolic_bp", 3),
        ("sbp", 100, "systolic_bp", 2),
        ("sbp", 110, "systolic_bp", 1),
        ("sbp", 219, "systolic_bp", 0),
        ("sbp", 220, "systolic_bp", 3),
        ("hr", 40, "pulse", 3),
        ("hr", 50, "pulse", 1),
        ("hr", 91, "pulse", 1),
        ("hr", 130, "pulse", 2),
        ("hr", 131, "pulse", 3),
        ("acvpu", 1, "consciousness", 3),
        ("temp", 35.0, "temperature", 3),
        ("temp", 35.1, "temperature", 1),
        ("temp", 38.1, "temperature", 1),
        ("temp", 39.1, "temperature", 2),
    ],
)
def test_band_edges(key: str, value: float, component: str, expected: int) -> None:
    result = news2(vitals(**{**NORMAL, key: value}))
    assert result.components[component] == expected
    assert result.score == expected


def test_risk_bands() -> None:
    assert news2(vitals(**{**NORMAL, "hr": 131})).risk == "low-medium"  # single 3
    assert news2(vitals(**{**NORMAL, "rr": 22, "spo2": 93, "temp": 38.5})).risk == "medium"
    high = news2(vitals(**{**NORMAL, "rr": 26, "spo2": 90, "o2": 4}))
    assert (high.score, high.risk) == (8, "high")


def test_spo2_scale_2_depends_on_oxygen() -> None:
    on_air = vitals(**{**NORMAL, "spo2": 89})
    assert news2(on_air).components["spo2"] == 3
    assert news2(on_air, spo2_scale=2).components["spo2"] == 0
    on_oxygen = vitals(**{**NORMAL, "spo2": 97, "o2": 2})
    assert news2(on_oxygen, spo2_scale=2).components["spo2"] == 3
    assert news2(on_oxygen).components["spo2"] == 0
    with pytest.raises(InputError, match=r"spo2_scale: expected 1 .* found 3"):
        news2(on_air, spo2_scale=3)


def test_units_are_converted_and_missing_listed() -> None:
    case = Case(
        case_id="f",
        observations=[Observation(code="8310-5", value=102.5, unit="[degF]")],  # 39.2 Cel
    )
    result = news2(case)
    assert result.components == {"temperature": 2}
    assert result.missing == [
        "respiratory_rate",
        "spo2",
        "air_or_oxygen",
        "systolic_bp",
        "pulse",
        "consciousness",
    ]


def test_no_vitals_gives_no_score() -> None:
    result = news2(Case(case_id="n", notes="rash"))
    assert (result.score, result.risk) == (None, "unknown")
    assert "not available" in result.summary()


def test_latest_observation_by_time_wins() -> None:
    early, late = datetime(2024, 1, 1, 8, tzinfo=UTC), datetime(2024, 1, 1, 12)
    case = Case(
        case_id="t",
        observations=[
            Observation(code="8867-4", value=140, unit="/min", time=late),
            Observation(code="8867-4", value=70, unit="/min", time=early),
            Observation(code="8867-4", value=45, unit="/min"),  # untimed loses to timed
        ],
    )
    assert news2(case).components["pulse"] == 3


def test_implausible_vital_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"observations\[0\]\.value \(heart rate"):
        news2(vitals(hr=400))
