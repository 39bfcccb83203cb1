"""The forecast HTML report: one self-contained page with the promised figures."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from dxkit.errors import InputError
from dxkit.forecast.gbm import GbmConfig, GbmForecaster
from dxkit.forecast.metrics import AlertPolicy
from dxkit.forecast.physionet import load_physionet, read_outcomes
from dxkit.forecast.plots import alert_burden_curve, calibration_bins
from dxkit.forecast.report import (
    PatientTimeline,
    pick_timelines,
    report_for_model,
    write_forecast_report,
)
from dxkit.forecast.series import SignalSeries, TimeSeriesRecord
from dxkit.forecast.workflow import with_outcomes

IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag not in {"meta", "img", "br"}:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"unbalanced </{tag}>"
        self.open.pop()


def _record(rid: str, artefact: bool) -> TimeSeriesRecord:
    t = np.array([0.5, 3.0, 6.5, 9.0])
    usable = np.array([True, not artefact, True, True])
    return TimeSeriesRecord(
        rid,
        signals={
            "heart_rate": SignalSeries(t, np.array([80.0, 250.0, 95.0, 110.0]), usable),
            "spo2": SignalSeries(t, np.array([97.0, 96.0, 93.0, 91.0]), np.ones(4, bool)),
        },
    )


def _images(text: str) -> list[bytes]:
    return [base64.b64decode(m) for m in IMG.findall(text)]


def test_report_is_one_valid_page_with_all_figures(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 20)
    risk = np.clip(0.2 + 0.5 * y + rng.normal(0, 0.15, y.size), 0, 1)
    scores = {"SAPS-I": y * 5.0 + rng.normal(10, 3, y.size), "SOFA": np.full(y.size, np.nan)}
    timelines = [
        PatientTimeline(_record("a1", artefact=True), np.linspace(0.1, 0.7, 10), 1),
        PatientTimeline(_record("a2", artefact=False), np.full(10, 0.1), 0),
    ]
    out = tmp_path / "sub" / "report.html"
    write_forecast_report(
        out,
        y=y,
        risks={"GRU-D": risk},
        scores=scores,
        timelines=timelines,
        hours=10,
        alert=AlertPolicy(0.8, 0.5, 0.85, 40.0, 0.6),
        data_name="synthetic",
        warnings={"spike": 1},
    )
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "http" not in text.split("<body>")[1][:2000]
    parser = _Tags()
    parser.feed(text)
    assert parser.open == []
    images = _images(text)
    assert len(images) == 4 + 2  # ROC, PR, calibration, burden + 2 timelines
    assert all(img.startswith(b"\x89PNG") for img in images)
    assert "record a1 died: vital signs, risk now (black); 1 artefact(s) marked x." in text
    assert "0 artefact(s)" in text
    assert "alert at 80% sensitivity" in text and "spike 1" in text
    assert "SAPS-I" in text and ">SOFA<" not in text  # a score with no values is left out
    assert out.stat().st_mode & 0o077 == 0  # owner-only, like every dxkit output


def test_burden_and_calibration_numbers() -> None:
    y = np.array([1, 0, 1, 0, 0])
    sens, burden = alert_burden_curve(y, np.array([0.9, 0.8, 0.8, 0.2, 0.1]))
    assert sens.tolist() == [0.5, 1.0, 1.0, 1.0]  # the two 0.8s alert together
    assert burden.tolist() == [20.0, 60.0, 80.0, 100.0]
    mean, observed, count = calibration_bins(y, np.array([0.95, 0.85, 0.85, 0.15, 0.15]))
    assert count.tolist() == [2, 2, 1] and observed.tolist() == [0.0, 0.5, 1.0]
    assert mean.tolist() == pytest.approx([0.15, 0.85, 0.95])


def test_pick_timelines_alternates_deaths_and_survivors() -> None:
    y = np.array([0, 1, 0, 1, 0])
    risk = np.array([0.9, 0.8, 0.1, 0.2, 0.5])
    records = [_record(str(i), False) for i in range(5)]
    assert pick_timelines(records, y, risk, 3) == [1, 0, 3]


def test_report_for_a_saved_model_from_files(cohort: tuple[Path, Path], tmp_path: Path) -> None:
    records, y, _ = with_outcomes(load_physionet(cohort[0]), read_outcomes(cohort[1]))
    config = GbmConfig(hours=24, max_iter=30, learning_rate=0.2, min_samples_leaf=5,
                       max_features=1.0, calibration_folds=0, valid_fraction=0.3)  # fmt: skip
    GbmForecaster(config).fit(records, y).save(tmp_path / "m")
    out = tmp_path / "r.html"
    report_for_model(out, tmp_path / "m", cohort[0], cohort[1], patients=2)
    text = out.read_text(encoding="utf-8")
    assert len(_images(text)) == 6
    assert "NEWS2 (worst, 24 h)" in text and "GbmForecaster" in text
    with pytest.raises(InputError, match="--html: expected a file path"):
        report_for_model(tmp_path, tmp_path / "m", cohort[0], cohort[1])
