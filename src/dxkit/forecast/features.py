"""Windowed summary features of a stay up to a time: the input of the boosting model.

Why summaries: gradient boosting on "last, worst, trend and how often measured" per
signal is a strong, fast baseline for irregular series (Johnson & Mark, CinC 2012;
the challenge's best entries were built this way). Missingness is informative in the
ICU (a lactate is ordered when someone is worried), so counts and "hours since last"
are features, and missing stays NaN, which the model handles natively.

Every window is relative to ``end`` (the prediction time), so the same feature layout
serves the 24 h model, the 48 h model and the hourly "risk now" curve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache

import numpy as np

from dxkit.forecast.scores import news2_series, qsofa_series, sofa_series
from dxkit.forecast.series import TimeSeriesRecord
from dxkit.forecast.signals import signal_specs

WHOLE_STATS = ("last", "first", "min", "max", "mean", "std", "slope", "count", "since_last")
RECENT_HOURS = 6.0  # the "recent" window: the last 6 h before the prediction time
RECENT_STATS = ("mean", "min", "max", "count")
EARLY_HOURS = 6.0  # the "early" window: the first 6 h after admission
STATIC = ("age", "gender", "height", "weight_admit", "bmi", "icu_1", "icu_2", "icu_3", "icu_4")
SCORE_STATS = ("last", "max", "mean", "recent_mean", "slope")
SCORES = ("news2", "qsofa", "sofa")


def _stats(t: np.ndarray, v: np.ndarray, end: float) -> list[float]:
    """WHOLE_STATS of one signal's usable readings up to ``end``."""
    n = v.size
    if n == 0:
        return [math.nan] * (len(WHOLE_STATS) - 2) + [0.0, math.nan]
    slope = math.nan
    if n >= 2:
        tc = t - t.mean()
        denom = float(tc @ tc)
        slope = float(tc @ (v - v.mean())) / denom if denom > 0 else math.nan  # unit / h
    return [
        float(v[-1]),
        float(v[0]),
        float(v.min()),
        float(v.max()),
        float(v.mean()),
        float(v.std()),
        slope,
        float(n),
        end - float(t[-1]),
    ]


def _window(v: np.ndarray) -> list[float]:
    if v.size == 0:
        return [math.nan, math.nan, math.nan, 0.0]
    return [float(v.mean()), float(v.min()), float(v.max()), float(v.size)]


@cache
def feature_names() -> tuple[str, ...]:
    """Column names, ``<signal>:<window>_<stat>``, ``static:<fact>``, ``<score>:<stat>``."""
    names: list[str] = [f"static:{s}" for s in STATIC]
    for key in signal_specs():
        names += [f"{key}:{s}" for s in WHOLE_STATS]
        names += [f"{key}:recent_{s}" for s in RECENT_STATS]
        names.append(f"{key}:early_mean")
    names += ["urine:total", "urine:recent_total", "urine:ml_per_kg_h"]
    names += [f"{score}:{s}" for score in SCORES for s in SCORE_STATS]
    names.append("record:hours")
    return tuple(names)


def feature_groups() -> dict[str, list[int]]:
    """Column indices per signal, score or static fact: the unit of an explanation."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(feature_names()):
        head, stat = name.split(":", 1)
        group = stat if head == "static" else head
        groups.setdefault("icu_type" if group.startswith("icu_") else group, []).append(i)
    return groups


def _static(record: TimeSeriesRecord) -> list[float]:
    s = record.static
    height, weight = s.get("height", math.nan), s.get("weight_admit", math.nan)
    bmi = weight / (height / 100.0) ** 2 if height > 0 and weight > 0 else math.nan  # kg/m^2
    icu = s.get("icu_type", math.nan)
    onehot = [float(icu == k) if math.isfinite(icu) else math.nan for k in (1, 2, 3, 4)]
    return [s.get("age", math.nan), s.get("gender", math.nan), height, weight, bmi, *onehot]


def _score_stats(values: np.ndarray, at: np.ndarray, end: float) -> list[float]:
    ok = ~np.isnan(values)
    if not ok.any():
        return [math.nan] * len(SCORE_STATS)
    v, t = values[ok], at[ok]
    recent = v[t > end - RECENT_HOURS]
    slope = _stats(t, v, end)[WHOLE_STATS.index("slope")]
    recent_mean = float(recent.mean()) if recent.size else math.nan
    return [float(v[-1]), float(v.max()), float(v.mean()), recent_mean, slope]


def summarise(record: TimeSeriesRecord, end: float) -> np.ndarray:
    """Feature vector of ``record`` from readings at or before ``end`` hours.

    Returns:
        Shape (len(feature_names()),); NaN marks "not measured", never an error.
    """
    row = _static(record)
    urine_total = recent_urine = math.nan
    for key in signal_specs():
        series = record.signals.get(key)
        t, v = series.clean(until=end) if series else (np.empty(0), np.empty(0))
        row += _stats(t, v, end)
        row += _window(v[t > end - RECENT_HOURS])
        early = v[t <= EARLY_HOURS]
        row.append(float(early.mean()) if early.size else math.nan)
        if key == "urine" and v.size:
            urine_total, recent_urine = float(v.sum()), float(v[t > end - RECENT_HOURS].sum())
    weight = record.static.get("weight_admit", math.nan)
    rate = urine_total / weight / max(end, 1.0) if weight > 0 else math.nan  # mL/kg/h
    row += [urine_total, recent_urine, rate]
    at = np.arange(1.0, math.floor(end) + 1.0)  # (T,) hourly score times
    for series_fn in (news2_series, qsofa_series, sofa_series):
        row += _score_stats(series_fn(record, at), at, end)
    row.append(min(record.last_time(), end))
    return np.asarray(row, dtype=float)


def feature_matrix(records: Sequence[TimeSeriesRecord], end: float) -> np.ndarray:
    """Features of many records at the same prediction time, shape (n, n_features)."""
    if not records:
        return np.empty((0, len(feature_names())))
    return np.vstack([summarise(record, end) for record in records])
