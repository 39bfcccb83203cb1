"""The differential's forecast section: only for cases with bedside time series."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from dxkit.cases.schema import Case, Observation
from dxkit.cases.synthetic import CohortConfig, CohortGenerator
from dxkit.forecast.explain import Contribution
from dxkit.forecast.grud import GrudConfig, GrudForecaster
from dxkit.forecast.metrics import AlertPolicy
from dxkit.forecast.series import TimeSeriesRecord, records_from_cases
from dxkit.knowledge.loader import KnowledgeBase
from dxkit.models.tfidf import TfidfModel
from dxkit.report.diagnose import diagnose, has_time_series

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
HR, SPO2, RR = "8867-4", "59408-5", "9279-1"


@pytest.fixture(scope="module")
def model(tiny_kb: KnowledgeBase) -> TfidfModel:
    cohort = CohortGenerator(CohortConfig(n=120, seed=0), tiny_kb).generate()
    return TfidfModel().fit([lc.case for lc in cohort], [lc.label for lc in cohort])


def worsening(case_id: str = "w1", hours: int = 8) -> Case:
    """Pulse, breathing rate up and SpO2 down every hour: NEWS2 climbs."""
    obs = []
    for h in range(hours):
        at = START + timedelta(hours=h, minutes=10)
        obs += [
            Observation(code=HR, value=80 + 6 * h, unit="/min", time=at),
            Observation(code=SPO2, value=98 - h, unit="%", time=at),
            Observation(code=RR, value=14 + 2 * h, unit="/min", time=at),
        ]
    return Case(case_id=case_id, age=70, sex="male", notes="Short of breath.", observations=obs)


class StubForecaster:
    """A ForecastModel whose risk rises 0.05 per hour (what the section must report)."""

    hours = 12
    alert = AlertPolicy(0.8, 0.3, 0.8, 30.0, 0.4)
    model_id = "stub0001"

    def risk_curve(self, record: TimeSeriesRecord) -> np.ndarray:
        return np.linspace(0.05, 0.6, self.hours)

    def top_signals(self, record: TimeSeriesRecord, *, top: int = 5) -> list[Contribution]:
        return [Contribution("spo2", 0.2, 7.17, 91.0, "%", 8)][:top]


def test_no_forecast_section_without_timed_series(
    model: TfidfModel, tiny_kb: KnowledgeBase
) -> None:
    calm = Case(case_id="c1", age=30, sex="female", notes="Itchy rash on both arms.")
    untimed = calm.model_copy(
        update={"case_id": "c2", "observations": [Observation(code=HR, value=80, unit="/min")]}
    )
    one = calm.model_copy(
        update={
            "case_id": "c3",
            "observations": [Observation(code=HR, value=80, unit="/min", time=START)],
        }
    )
    answers = diagnose(model, [calm, untimed, one], kb=tiny_kb, forecaster=StubForecaster())  # type: ignore[arg-type]
    assert [a.forecast for a in answers] == [None, None, None]
    assert "forecast" not in answers[0].model_dump(exclude_none=True)


def test_scores_timeline_without_a_model(model: TfidfModel, tiny_kb: KnowledgeBase) -> None:
    [answer] = diagnose(model, [worsening()], kb=tiny_kb)
    fc = answer.forecast
    assert fc is not None and fc.hours_observed == pytest.approx(7.0)
    assert len(fc.news2_hourly) == 7 and fc.news2_now == fc.news2_hourly[-1]
    assert fc.news2_now is not None and fc.news2_now >= 7 and fc.news2_trend == "rising"
    assert fc.news2_max == max(v for v in fc.news2_hourly if v is not None)
    assert fc.risk_now is None and fc.model_id is None and fc.top_signals == []


def test_forecaster_adds_risk_trend_alert_and_signals(
    model: TfidfModel, tiny_kb: KnowledgeBase
) -> None:
    [answer] = diagnose(model, [worsening()], kb=tiny_kb, forecaster=StubForecaster())  # type: ignore[arg-type]
    fc = answer.forecast
    assert fc is not None
    curve = np.linspace(0.05, 0.6, 12)
    assert fc.risk_now == pytest.approx(curve[7], abs=1e-4)  # last reading in hour 7-8
    assert fc.risk_change_6h == pytest.approx(curve[7] - curve[1], abs=1e-4)
    assert fc.risk_trend == "rising" and fc.alert is True and fc.horizon_hours == 12
    assert fc.model_id == "stub0001" and fc.top_signals[0].signal == "spo2"


def test_a_real_grud_model_fills_the_section(model: TfidfModel, tiny_kb: KnowledgeBase) -> None:
    cases = [worsening(f"t{i}", hours=4 + i % 5) for i in range(24)]
    records = records_from_cases(cases)
    y = np.array([i % 2 for i in range(24)])
    config = GrudConfig(hours=8, hidden=8, max_epochs=2, patience=1, valid_fraction=0.25)
    grud = GrudForecaster(config).fit(records, y)
    [answer] = diagnose(model, [worsening()], kb=tiny_kb, forecaster=grud)
    assert answer.forecast is not None and answer.forecast.risk_now is not None
    assert 0 <= answer.forecast.risk_now <= 1 and answer.forecast.horizon_hours == 8


def test_series_detection_and_no_forecast_import_for_plain_cases() -> None:
    assert has_time_series(worsening())
    unknown = Case(
        case_id="u",
        notes="x",
        observations=[Observation(code="1-8", value=1, unit="1", time=START)] * 2,
    )
    assert not has_time_series(unknown)
    code = (
        "import sys\n"
        "from dxkit.cases.schema import Case\n"
        "from dxkit.report.diagnose import has_time_series\n"
        "assert not has_time_series(Case(case_id='a', notes='cough'))\n"
        "assert not any(m.startswith('dxkit.forecast') for m in sys.modules), 'imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
