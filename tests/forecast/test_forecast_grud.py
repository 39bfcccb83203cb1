"""GRU-D forecaster: learns a trend, keeps the contract, uses masks and time gaps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dxkit.errors import InputError, ModelFormatError
from dxkit.forecast.base import ForecastModel
from dxkit.forecast.grud import GrudConfig, GrudForecaster
from dxkit.forecast.grud_network import GruD, safe_grid
from dxkit.forecast.metrics import auroc
from dxkit.forecast.series import SignalSeries, TimeSeriesRecord
from dxkit.models.base import MANIFEST

HOURS = 12


def make_record(rid: str, sick: bool, rng: np.random.Generator) -> TimeSeriesRecord:
    """Readings every ~1.5 h; the sick get faster pulse and lower SpO2 as hours pass."""
    times = np.sort(rng.uniform(0, HOURS, size=9))
    slope = 3.5 if sick else 0.0
    hr = 85 + slope * times + rng.normal(0, 4, times.size)
    spo2 = 97 - (0.7 if sick else 0.0) * times + rng.normal(0, 0.8, times.size)
    ok = np.ones(times.size, dtype=bool)
    return TimeSeriesRecord(
        rid,
        static={"age": float(rng.integers(30, 80)), "gender": 1.0, "icu_type": 3.0},
        signals={
            "heart_rate": SignalSeries(times, hr, ok),
            "spo2": SignalSeries(times, spo2, ok.copy()),
        },
    )


def cohort(n: int, seed: int) -> tuple[list[TimeSeriesRecord], np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.array([i % 3 == 0 for i in range(n)], dtype=int)
    return [make_record(f"r{seed}-{i}", bool(s), rng) for i, s in enumerate(y)], y


CONFIG = GrudConfig(hours=HOURS, hidden=16, max_epochs=25, patience=6, learning_rate=1e-2)


@pytest.fixture(scope="module")
def trained() -> GrudForecaster:
    records, y = cohort(72, seed=1)
    return GrudForecaster(CONFIG).fit(records, y)


def test_grud_beats_chance_on_a_learnable_trend(trained: GrudForecaster) -> None:
    records, y = cohort(30, seed=2)
    risk = trained.predict_proba(records)
    assert risk.shape == (30,) and np.all((risk >= 0) & (risk <= 1))
    assert auroc(y, risk) > 0.85
    assert risk[y == 1].mean() > risk[y == 0].mean() + 0.2
    assert trained.alert is not None and trained.validation["n"] > 0
    assert isinstance(trained, ForecastModel)


def test_risk_curve_is_causal_and_ends_at_the_risk(trained: GrudForecaster) -> None:
    records, _ = cohort(3, seed=3)
    rec = records[0]
    curve = trained.risk_curve(rec)
    assert curve.shape == (HOURS,)
    assert curve[-1] == pytest.approx(trained.predict_proba([rec])[0], abs=1e-6)
    hr = rec.signals["heart_rate"]
    late = hr.times >= 6
    changed = TimeSeriesRecord(
        rec.record_id,
        rec.static,
        {
            **rec.signals,
            "heart_rate": SignalSeries(hr.times, np.where(late, 190.0, hr.values), hr.usable),
        },
    )
    other = trained.risk_curve(changed)
    np.testing.assert_allclose(other[:6], curve[:6], atol=1e-9)  # the past is not rewritten
    assert not np.allclose(other[6:], curve[6:])


def test_save_load_round_trip_is_identical(trained: GrudForecaster, tmp_path: Path) -> None:
    records, _ = cohort(10, seed=4)
    trained.save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / MANIFEST).read_text())
    assert manifest["kind"] == "forecast-grud"
    assert len(manifest["encoder"]["mean"]) == len(manifest["encoder"]["signals"])
    loaded = GrudForecaster.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict_proba(records), trained.predict_proba(records))
    np.testing.assert_array_equal(loaded.risk_curve(records[0]), trained.risk_curve(records[0]))
    assert len(loaded.model_id) == 12 and loaded.alert == trained.alert


def test_damaged_weights_and_wrong_kind_are_refused(
    trained: GrudForecaster, tmp_path: Path
) -> None:
    trained.save(tmp_path / "m")
    (tmp_path / "m" / "grud.pt").write_bytes(b"not a torch file")
    with pytest.raises(ModelFormatError, match="damaged or mismatched"):
        GrudForecaster.load(tmp_path / "m")
    manifest = tmp_path / "m" / MANIFEST
    manifest.write_text(manifest.read_text().replace("forecast-grud", "forecast-gbm"))
    with pytest.raises(ModelFormatError, match="model kind"):
        GrudForecaster.load(tmp_path / "m")


def test_masks_and_time_gaps_change_the_output() -> None:
    import torch

    torch.manual_seed(0)
    net = GruD(n_signals=3, n_static=2, hidden=8).eval()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, 10, 3, generator=gen)
    mask = (torch.rand(4, 10, 3, generator=gen) > 0.5).float()
    delta = torch.rand(4, 10, 3, generator=gen)
    static = torch.randn(4, 2, generator=gen)
    with torch.no_grad():
        base = net(x * mask, mask, delta, x, static)
        shuffled = net(x * mask, mask[:, torch.randperm(10, generator=gen)], delta, x, static)
        gaps = net(x * mask, mask, delta * 5, x, static)
    assert base.shape == (4, 10)
    assert not torch.allclose(base, shuffled)
    assert not torch.allclose(base, gaps)


def test_top_signals_name_the_trend(trained: GrudForecaster) -> None:
    records, y = cohort(6, seed=5)
    sick = records[int(np.flatnonzero(y == 1)[0])]
    found = trained.top_signals(sick, top=2)
    assert found and {c.signal for c in found} <= {"heart_rate", "spo2"}
    assert all(c.delta > 0 and c.readings > 0 for c in found)


def test_grid_of_absent_or_masked_signals_is_never_seen() -> None:
    times = np.array([0.5, 1.5])
    rec = TimeSeriesRecord(
        "g",
        signals={"spo2": SignalSeries(times, np.array([95.0, 20.0]), np.array([False, False]))},
    )
    grid = safe_grid(rec, 3, ["heart_rate", "spo2"])
    assert grid.mask.sum() == 0 and np.isnan(grid.values).all()
    assert grid.delta[:, 1].tolist() == [1.0, 2.0, 3.0]


def test_fit_refuses_too_little_data() -> None:
    records, y = cohort(10, seed=6)
    with pytest.raises(InputError, match="at least 20 records"):
        GrudForecaster(CONFIG).fit(records, y)
    with pytest.raises(InputError, match="forecast option hours"):
        GrudConfig(hours=0)
