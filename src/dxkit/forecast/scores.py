"""NEWS2, qSOFA and a SOFA-like organ score at every hour of a stay.

Why: these are the clinical anchors a model must beat, and their trajectories are
strong features in their own right. NEWS2 reuses the triage stage's chart
(:func:`dxkit.triage.news2.news2_table`) so the bedside score and the forecast never
disagree; qSOFA and SOFA bands live in ``resources/forecast/scores.yaml`` with sources.

Each score at hour ``h`` uses the latest usable reading at or before ``h`` that is at
most ``staleness_hours`` old. Components without such a reading score nothing (a lower
bound, as in triage); a score with no component at all is NaN, never a fake zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import yaml

from dxkit.forecast.series import TimeSeriesRecord
from dxkit.triage.news2 import news2_table


@cache
def score_table() -> dict[str, Any]:
    """The qSOFA/SOFA bands and NEWS2 input mapping (read once, on first use)."""
    path = resources.files("dxkit.resources").joinpath("forecast", "scores.yaml")
    table: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    return table


def band_scores(values: np.ndarray, bands: list[list[float | None]], *, strict: bool) -> np.ndarray:
    """Score each value with ``[upper, score]`` bands; NaN stays NaN.

    ``strict`` picks ``value < upper`` (SOFA tables) over ``value <= upper`` (NEWS2).

    >>> band_scores(np.array([35.0, 37.0, np.nan]), [[35.0, 3], [38.0, 0], [None, 2]],
    ...             strict=False).tolist()
    [3.0, 0.0, nan]
    """
    out = np.full(values.shape, np.nan)
    todo = ~np.isnan(values)
    for upper, score in bands:
        if upper is not None:
            hit = todo & ((values < upper) if strict else (values <= upper))
        else:
            hit = todo.copy()
        out[hit] = float(score or 0)
        todo &= ~hit
    return out


def latest_values(
    record: TimeSeriesRecord, keys: list[str], at: np.ndarray, staleness: float
) -> np.ndarray:
    """Latest usable reading of the first listed signal that has one, at each time.

    Args:
        record: the stay.
        keys: signals in order of preference.
        at: query times in hours, shape (T,).
        staleness: readings older than this many hours are ignored.

    Returns:
        Shape (T,), NaN where no listed signal has a fresh reading.
    """
    out = np.full(at.shape, np.nan)
    for key in keys:
        if key == "pf_ratio":
            found = _pf_ratio(record, at, staleness)
        else:
            series = record.signals.get(key)
            if series is None:
                continue
            times, vals = series.clean()
            if times.size == 0:
                continue
            idx = np.searchsorted(times, at, side="right") - 1
            fresh = (idx >= 0) & (at - times[np.maximum(idx, 0)] <= staleness)
            found = np.where(fresh, vals[np.maximum(idx, 0)], np.nan)
        out = np.where(np.isnan(out), found, out)
    return out


def _pf_ratio(record: TimeSeriesRecord, at: np.ndarray, staleness: float) -> np.ndarray:
    pao2 = latest_values(record, ["pao2"], at, staleness)  # mm[Hg]
    fio2 = latest_values(record, ["fio2"], at, staleness)  # fraction
    fio2 = np.where(np.isnan(fio2) & ~np.isnan(pao2), 0.21, fio2)  # uncharted FiO2: room air
    ratio: np.ndarray = pao2 / fio2
    return ratio


@dataclass(frozen=True)
class ScoreTimeline:
    """Hourly scores of one stay; every array has shape (T,), NaN where not computable.

    Attributes:
        hours: the query times (hours since admission).
        news2: NEWS2 aggregate.
        qsofa: qSOFA (0-3).
        sofa: SOFA-like total (0-19 here: cardiovascular caps at 1).
    """

    hours: np.ndarray
    news2: np.ndarray
    qsofa: np.ndarray
    sofa: np.ndarray


def _sum_components(parts: list[np.ndarray]) -> np.ndarray:
    stack = np.vstack(parts)  # (components, T)
    total = np.nansum(stack, axis=0)
    return np.where(np.isnan(stack).all(axis=0), np.nan, total)


def news2_series(record: TimeSeriesRecord, at: np.ndarray) -> np.ndarray:
    """NEWS2 at each time in ``at`` (SpO2 scale 1), NaN where no vital sign is fresh."""
    table, chart = score_table()["news2"], news2_table()["parameters"]
    stale = float(table["staleness_hours"])
    parts = []
    for name, keys in table["inputs"].items():
        values = latest_values(record, keys, at, stale)
        if name == "consciousness":  # GCS -> ACVPU code: 0 alert, 1 not alert
            values = np.where(np.isnan(values), np.nan, values < table["gcs_alert_at"])
        bands = chart[name]["scale1" if name == "spo2" else "bands"]
        parts.append(band_scores(values, bands, strict=False))
    vitals = _sum_components(parts)
    oxygen = table["oxygen"]
    fio2 = latest_values(record, [oxygen["fio2"]], at, stale)
    vent = latest_values(record, [oxygen["ventilation"]], at, stale)
    on_o2 = (np.nan_to_num(fio2) > oxygen["fio2_above"]) | (np.nan_to_num(vent) > 0)
    o2_points = np.where(on_o2, chart["air_or_oxygen"]["oxygen"], chart["air_or_oxygen"]["air"])
    return vitals + np.where(np.isnan(vitals), np.nan, o2_points)


def _criteria_sum(
    record: TimeSeriesRecord, at: np.ndarray, block: dict[str, Any], items: str
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    stale = float(block["staleness_hours"])
    parts: dict[str, np.ndarray] = {}
    for name, spec in block[items].items():
        values = latest_values(record, spec["inputs"], at, stale)
        strict = "lt" in spec
        parts[name] = band_scores(values, spec["lt" if strict else "le"], strict=strict)
    return _sum_components(list(parts.values())), parts


def qsofa_series(record: TimeSeriesRecord, at: np.ndarray) -> np.ndarray:
    """qSOFA at each time in ``at``, NaN where none of its three inputs is fresh."""
    return _criteria_sum(record, at, score_table()["qsofa"], "criteria")[0]


def sofa_series(record: TimeSeriesRecord, at: np.ndarray) -> np.ndarray:
    """SOFA-like total at each time in ``at`` (respiration 3-4 only when ventilated)."""
    block = score_table()["sofa"]
    _, parts = _criteria_sum(record, at, block, "organs")
    cap = float(block["organs"]["respiration"]["unventilated_max"])
    vent = latest_values(record, ["mech_vent"], at, float(block["staleness_hours"]))
    resp = parts["respiration"]
    parts["respiration"] = np.where(np.nan_to_num(vent) > 0, resp, np.minimum(resp, cap))
    return _sum_components(list(parts.values()))


def score_timeline(record: TimeSeriesRecord, hours: int) -> ScoreTimeline:
    """All three scores at the end of every hour ``1..hours``."""
    at = np.arange(1, hours + 1, dtype=float)  # (T,)
    return ScoreTimeline(
        at, news2_series(record, at), qsofa_series(record, at), sofa_series(record, at)
    )
