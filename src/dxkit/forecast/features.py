"""Windowed summary features of a stay up to a time: the input of the boosting model.

Why summaries: gradient boosting on "last, worst, trend and how often measured" per
signal is a strong, fast baseline for irregular series (Johnson & Mark, CinC 2012;
the challenge's best entries were built this way). Missingness is informative in the
ICU (a lactate is ordered when someone is worried), so counts and "hours since last"
are features, and missing stays NaN, which the model handles natively.

Every window is relative to the cut (the prediction time), so one layout serves the
24 h model, the 48 h model and the hourly "risk now" curve. :func:`summarise_at`
computes the features of one stay at many cuts at once with masked array reductions
(one (cuts, readings) mask per signal), so a 48-point risk curve or multi-cut training
costs about as much as a single cut did with per-cut loops.
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
TREND_STATS = ("last_minus_first", "last_minus_min", "last_minus_max")
EARLY_HOURS = 6.0  # the "early" window: the first 6 h after admission
RECENT_WINDOWS = {"recent": 6.0, "recent12": 12.0}  # windows ending at the cut
RECENT_STATS = ("mean", "min", "max", "count", "slope")
STATIC = ("age", "gender", "height", "weight_admit", "bmi", "icu_1", "icu_2", "icu_3", "icu_4")
SCORE_STATS = ("last", "max", "min", "mean", "recent_mean", "slope", "last_minus_first")
SCORES = ("news2", "qsofa", "sofa")
DERIVED = ("bun_creatinine", "pf_ratio", "shock_index", "shock_index_mean")
URINE = ("total", "recent_total", "ml_per_kg_h", "recent_ml_per_kg_h")
RECORD = ("hours", "cut", "readings_per_h")


@cache
def feature_names() -> tuple[str, ...]:
    """Column names, ``<signal>:<window>_<stat>``, ``static:<fact>``, ``<score>:<stat>``."""
    names: list[str] = [f"static:{s}" for s in STATIC]
    for key in signal_specs():
        names += [f"{key}:{s}" for s in (*WHOLE_STATS, *TREND_STATS)]
        names += [f"{key}:{w}_{s}" for w in RECENT_WINDOWS for s in RECENT_STATS]
        names.append(f"{key}:early_mean")
    names += [f"urine:{s}" for s in URINE]
    names += [f"derived:{s}" for s in DERIVED]
    names += [f"{score}:{s}" for score in SCORES for s in SCORE_STATS]
    names += [f"record:{s}" for s in RECORD]
    return tuple(names)


def feature_groups() -> dict[str, list[int]]:
    """Column indices per signal, score, derived ratio or static fact (explanation units)."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(feature_names()):
        head, stat = name.split(":", 1)
        group = stat if head in ("static", "derived") else head
        groups.setdefault("icu_type" if group.startswith("icu_") else group, []).append(i)
    return groups


def _masked(t: np.ndarray, v: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """mean, min, max, count, std and least-squares slope (unit/h) over the last axis.

    ``t`` and ``v`` broadcast against ``mask`` (..., E, n); results are (..., E), NaN
    (count 0) where a row of the mask is empty.
    """
    n = mask.sum(axis=-1).astype(float)
    safe = np.maximum(n, 1.0)
    vz, tz = np.where(mask, v, 0.0), np.where(mask, t, 0.0)
    mean = vz.sum(axis=-1) / safe
    dv = np.where(mask, vz - mean[..., None], 0.0)
    dt = np.where(mask, tz - (tz.sum(axis=-1) / safe)[..., None], 0.0)
    stt = (dt * dt).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where((n >= 2) & (stt > 0), (dt * dv).sum(axis=-1) / stt, np.nan)
    empty = n == 0
    return {
        "mean": np.where(empty, np.nan, mean),
        "min": np.where(empty, np.nan, np.where(mask, v, np.inf).min(axis=-1, initial=np.inf)),
        "max": np.where(empty, np.nan, np.where(mask, v, -np.inf).max(axis=-1, initial=-np.inf)),
        "count": n,
        "std": np.where(empty, np.nan, np.sqrt((dv * dv).sum(axis=-1) / safe)),
        "slope": slope,
    }


def _last_first(
    t: np.ndarray, v: np.ndarray, upto: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Last value, first value and hours since the last reading at each cut, (S, E).

    ``t``/``v`` are (S, n) sorted readings, ``upto`` the (S, E, n) "at or before" mask.
    """
    idx = upto.sum(axis=-1) - 1  # (S, E) readings are sorted: last one at or before the cut
    if t.shape[-1] == 0:
        nan = np.full(idx.shape, np.nan)
        return nan, nan, nan
    has, take = idx >= 0, np.maximum(idx, 0)
    last = np.where(has, np.take_along_axis(v, take, axis=-1), np.nan)
    first = np.where(has, v[:, :1], np.nan)
    since = np.where(has, ends[None, :] - np.take_along_axis(t, take, axis=-1), np.nan)
    return last, first, since


def _signal_blocks(record: TimeSeriesRecord, ends: np.ndarray) -> np.ndarray:
    """Every signal's columns at every cut, (S, E, per-signal columns) in name order.

    All signals are padded into one (S, n) array (padding at +inf never falls inside a
    window), so each statistic is a few array operations per stay, not per signal.
    """
    keys = list(signal_specs())
    clean = [s.clean() if (s := record.signals.get(k)) else (np.empty(0),) * 2 for k in keys]
    width = max((t.size for t, _ in clean), default=0)
    t_pad = np.full((len(keys), width), np.inf)  # (S, n)
    v_pad = np.zeros((len(keys), width))
    for i, (t, v) in enumerate(clean):
        t_pad[i, : t.size], v_pad[i, : v.size] = t, v
    t3, v3 = t_pad[:, None, :], v_pad[:, None, :]  # (S, 1, n)
    upto = t3 <= ends[None, :, None]  # (S, E, n)
    whole = _masked(t3, v3, upto)
    last, first, since = _last_first(t_pad, v_pad, upto, ends)
    cols = [last, first, *(whole[s] for s in ("min", "max", "mean", "std", "slope", "count"))]
    cols += [since, last - first, last - whole["min"], last - whole["max"]]
    for hours in RECENT_WINDOWS.values():
        recent = _masked(t3, v3, upto & (t3 > ends[None, :, None] - hours))
        cols += [recent[s] for s in RECENT_STATS]
    cols.append(_masked(t3, v3, upto & (t3 <= EARLY_HOURS))["mean"])
    return np.stack(cols, axis=-1)


def _static(record: TimeSeriesRecord) -> list[float]:
    s = record.static
    height, weight = s.get("height", math.nan), s.get("weight_admit", math.nan)
    bmi = weight / (height / 100.0) ** 2 if height > 0 and weight > 0 else math.nan  # kg/m^2
    icu = s.get("icu_type", math.nan)
    onehot = [float(icu == k) if math.isfinite(icu) else math.nan for k in (1, 2, 3, 4)]
    return [s.get("age", math.nan), s.get("gender", math.nan), height, weight, bmi, *onehot]


def _scores(record: TimeSeriesRecord, ends: np.ndarray) -> np.ndarray:
    """SCORE_STATS of NEWS2, qSOFA and SOFA at every cut, (E, 3 * len(SCORE_STATS))."""
    at = np.arange(1.0, math.floor(float(ends.max(initial=0.0))) + 1.0)  # (T,) hourly
    series = [fn(record, at) for fn in (news2_series, qsofa_series, sofa_series)]
    values = np.vstack(series) if at.size else np.empty((3, 0))  # (3, T)
    ok = ~np.isnan(values)
    t3, v3 = at[None, None, :], np.nan_to_num(values)[:, None, :]
    upto = ok[:, None, :] & (t3 <= ends[None, :, None])  # (3, E, T)
    whole = _masked(t3, v3, upto)
    recent = _masked(t3, v3, upto & (t3 > ends[None, :, None] - RECENT_WINDOWS["recent"]))
    # hourly scores have one reading per hour: gaps are NaN, so index the valid ones
    t_ok = np.where(ok, at[None, :], np.inf)
    order = np.argsort(t_ok, axis=-1, kind="stable")
    last, first, _ = _last_first(
        np.take_along_axis(t_ok, order, -1), np.take_along_axis(v3[:, 0], order, -1),
        np.take_along_axis(upto, order[:, None, :], -1), ends,
    )  # fmt: skip
    cols = [last, whole["max"], whole["min"], whole["mean"], recent["mean"], whole["slope"]]
    cols.append(last - first)
    return np.stack(cols, axis=-1).transpose(1, 0, 2).reshape(ends.size, -1)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def summarise_at(record: TimeSeriesRecord, ends: Sequence[float] | np.ndarray) -> np.ndarray:
    """Feature rows of ``record`` at each cut in ``ends`` (hours), shape (E, n_features).

    Row ``e`` uses only readings at or before ``ends[e]``; NaN marks "not measured".
    """
    cut = np.asarray(ends, dtype=float).reshape(-1)  # (E,)
    if cut.size == 0:
        return np.empty((0, len(feature_names())))
    keys = list(signal_specs())
    blocks = _signal_blocks(record, cut)  # (S, E, per-signal)
    per = {name: j for j, name in enumerate((*WHOLE_STATS, *TREND_STATS))}
    last = {k: blocks[i, :, per["last"]] for i, k in enumerate(keys)}
    mean = {k: blocks[i, :, per["mean"]] for i, k in enumerate(keys)}
    counts = blocks[:, :, per["count"]]  # (S, E)
    latest = np.where(counts > 0, cut[None, :] - blocks[:, :, per["since_last"]], 0.0).max(0)
    urine_t, urine_v = (
        record.signals["urine"].clean() if "urine" in record.signals else (np.empty(0),) * 2
    )
    upto = urine_t[None, :] <= cut[:, None]  # (E, n)
    recent = upto & (urine_t[None, :] > cut[:, None] - RECENT_WINDOWS["recent"])
    none = ~upto.any(axis=1)
    urine, urine_recent = (upto * urine_v).sum(axis=1), (recent * urine_v).sum(axis=1)
    weight = record.static.get("weight_admit", math.nan)
    kg = weight if weight > 0 else math.nan
    recent_h = np.maximum(np.minimum(cut, RECENT_WINDOWS["recent"]), 1.0)
    urine_cols = [
        urine,
        urine_recent,
        urine / kg / np.maximum(cut, 1.0),
        urine_recent / kg / recent_h,
    ]
    sbp_last = np.where(np.isnan(last["sbp_art"]), last["sbp_ni"], last["sbp_art"])
    sbp_mean = np.where(np.isnan(mean["sbp_art"]), mean["sbp_ni"], mean["sbp_art"])
    derived = [
        _ratio(last["bun"], last["creatinine"]),
        _ratio(last["pao2"], last["fio2"]),  # mm[Hg] per FiO2 fraction
        _ratio(last["heart_rate"], sbp_last),  # shock index
        _ratio(mean["heart_rate"], sbp_mean),
    ]
    return np.column_stack(
        [
            np.tile(np.asarray(_static(record)), (cut.size, 1)),
            blocks.transpose(1, 0, 2).reshape(cut.size, -1),
            *(np.where(none, np.nan, c) for c in urine_cols),  # mL, mL, mL/kg/h, mL/kg/h
            *derived,
            _scores(record, cut),
            latest,
            cut,
            counts.sum(axis=0) / np.maximum(cut, 1.0),
        ]
    )


def summarise(record: TimeSeriesRecord, end: float) -> np.ndarray:
    """Feature vector of ``record`` from readings at or before ``end`` hours, (n_features,)."""
    row: np.ndarray = summarise_at(record, [end])[0]
    return row


def feature_matrix(records: Sequence[TimeSeriesRecord], end: float) -> np.ndarray:
    """Features of many records at the same prediction time, shape (n, n_features)."""
    if not records:
        return np.empty((0, len(feature_names())))
    return np.vstack([summarise_at(record, [end]) for record in records])


def multi_cut_matrix(
    records: Sequence[TimeSeriesRecord], cuts: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Features of every record at every cut: (n * len(cuts), F) rows and their record index.

    Why: a "risk now" model trained on one cut sees early hours out of distribution;
    rows at many cuts (with the cut as a feature) keep every hour of the curve in it.
    Rows of one record are contiguous, so callers can split folds by record.
    """
    ends = np.asarray(cuts, dtype=float)
    if not records:
        return np.empty((0, len(feature_names()))), np.empty(0, dtype=int)
    rows = np.vstack([summarise_at(record, ends) for record in records])
    return rows, np.repeat(np.arange(len(records)), ends.size)
