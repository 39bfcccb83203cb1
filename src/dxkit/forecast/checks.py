"""Quality checks on bedside series: artefacts are masked and reported, never used silently.

Why here and not in :mod:`dxkit.quality.validate`: that module judges one reading at a
time; artefacts of monitors live in the sequence (a frozen sensor repeats itself, a
dislodged probe spikes and comes back, a mis-set unit makes weight jump by 2.2x). Each
finding is a :class:`~dxkit.quality.validate.QualityWarning` whose field is
``<record>.<signal>`` and whose message holds counts and limits, never free text.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from dxkit.forecast.series import Reading, SignalSeries, TimeSeriesRecord
from dxkit.forecast.signals import SignalSpec, jump_hours, signal_specs
from dxkit.quality.catalogue import format_range
from dxkit.quality.validate import QualityWarning


class _Report:
    """Collects warnings for one record, phrased with the record and signal."""

    def __init__(self, record_id: str) -> None:
        self.record_id = record_id
        self.warnings: list[QualityWarning] = []

    def add(self, code: str, signal: str, text: str) -> None:
        self.warnings.append(
            QualityWarning(
                code,
                f"{self.record_id}.{signal}",
                f"record {self.record_id}, signal {signal}: {text}",
            )
        )


def _fix_mixups(spec: SignalSpec, values: np.ndarray, report: _Report) -> np.ndarray:
    if not spec.mixups:
        return values
    low, high = spec.plausible
    out = values.copy()
    inside = (out >= low) & (out <= high)
    median = float(np.median(out[inside])) if inside.sum() >= 2 else math.nan
    for mix in spec.mixups:
        converted = out * mix.factor + mix.offset
        fits = (converted >= low) & (converted <= high)
        hit = ~inside & fits
        if mix.relative and math.isfinite(median) and median > 0:
            near = np.abs(converted - median) <= 0.05 * median
            far = np.abs(out - median) > 0.5 * median
            hit |= inside & near & far
        if hit.any():
            out[hit] = converted[hit]
            inside |= hit
            report.add(
                "unit_mixup",
                spec.key,
                f"{int(hit.sum())} reading(s) look recorded in {mix.unit}; converted to "
                f"{spec.unit}. Fix: check the device's unit setting",
            )
    return out


def _spikes_and_jumps(
    spec: SignalSpec, t: np.ndarray, v: np.ndarray, ok: np.ndarray
) -> tuple[np.ndarray, int, int]:
    """Mask isolated excursions (spikes) and the far side of impossible steps (jumps)."""
    idx = np.flatnonzero(ok)
    if idx.size < 2:
        return ok, 0, 0
    tt, vv = t[idx], v[idx]
    window, limit = jump_hours(), spec.max_jump
    close = np.diff(tt) <= window  # (m-1,)
    big = (np.abs(np.diff(vv)) > limit) & close  # step i -> i+1 is impossible
    if not big.any():
        return ok, 0, 0
    spike = np.zeros(idx.size, dtype=bool)
    if idx.size >= 3:
        back_forth = big[:-1] & big[1:] & (np.abs(vv[2:] - vv[:-2]) <= limit)
        spike[1:-1] = back_forth
    bad = ok.copy()
    bad[:] = False
    bad[idx[spike]] = True
    median = float(np.median(vv))
    jumps = 0
    for i in np.flatnonzero(big):
        if spike[i] or spike[i + 1]:
            continue
        far = i if abs(vv[i] - median) > abs(vv[i + 1] - median) else i + 1
        bad[idx[far]] = True
        jumps += 1
    return ok & ~bad, int(spike.sum()), jumps


def _flat_runs(
    spec: SignalSpec, t: np.ndarray, v: np.ndarray, ok: np.ndarray
) -> tuple[np.ndarray, int]:
    """Mask all but the first reading of runs of identical values lasting ``flat_hours``."""
    if spec.flat_hours is None:
        return ok, 0
    idx = np.flatnonzero(ok)
    out, runs, start = ok.copy(), 0, 0
    for end in range(1, idx.size + 1):
        if end < idx.size and v[idx[end]] == v[idx[start]]:
            continue
        if end - start >= 3 and t[idx[end - 1]] - t[idx[start]] >= spec.flat_hours:
            out[idx[start + 1 : end]] = False
            runs += 1
        start = end
    return out, runs


def clean_signal(
    spec: SignalSpec, times: np.ndarray, values: np.ndarray, report: _Report
) -> SignalSeries:
    """Sort, merge duplicates, fix unit mix-ups and mask artefacts of one signal."""
    if times.size > 1 and np.any(np.diff(times) < 0):
        report.add("unsorted_times", spec.key, "timestamps out of order; sorted by time")
    order = np.argsort(times, kind="stable")
    times, values = times[order], values[order]
    if times.size > 1 and np.any(np.diff(times) == 0):
        uniq, inverse, counts = np.unique(times, return_inverse=True, return_counts=True)
        report.add(
            "duplicate_times",
            spec.key,
            f"{int((counts > 1).sum())} timestamp(s) hold more than one reading; averaged",
        )
        values = np.bincount(inverse, weights=values) / counts
        times = uniq
    values = _fix_mixups(spec, values, report)
    low, high = spec.plausible
    ok = np.isfinite(values) & (values >= low) & (values <= high)
    if (~ok).any():
        report.add(
            "impossible_value",
            spec.key,
            f"{int((~ok).sum())} reading(s) outside the plausible "
            f"{format_range(spec.plausible, spec.unit)}; masked",
        )
    ok, spikes, jumps = _spikes_and_jumps(spec, times, values, ok)
    if spikes:
        report.add(
            "spike",
            spec.key,
            f"{spikes} isolated spike(s) beyond {spec.max_jump:g} {spec.unit}; masked",
        )
    if jumps:
        report.add(
            "impossible_jump",
            spec.key,
            f"{jumps} step(s) beyond {spec.max_jump:g} "
            f"{spec.unit} within {jump_hours():g} h; the outlying side masked",
        )
    ok, runs = _flat_runs(spec, times, values, ok)
    if runs:
        report.add(
            "flat_line",
            spec.key,
            f"{runs} run(s) of identical readings for "
            f"{spec.flat_hours:g} h or more (frozen sensor?); repeats masked",
        )
    if not ok.any():
        report.add("no_usable_values", spec.key, "no usable reading; the signal is left out")
    return SignalSeries(times, values, ok)


def assemble_record(
    record_id: str,
    static: dict[str, float],
    readings: list[Reading],
    *,
    unknown: dict[str, int] | None = None,
    missing: dict[str, int] | None = None,
) -> TimeSeriesRecord:
    """Build a checked record from raw readings (any accepted unit) and static facts.

    Args:
        record_id: the stay's id, used in every warning.
        static: static facts (NaN where unknown).
        readings: ``(hours, signal key, value, unit or None for canonical)``.
        unknown: names the source could not map, with counts (reported, not used).
        missing: signals with "missing" codes in the source, with counts (reported).
    """
    specs = signal_specs()
    report = _Report(record_id)
    for name, count in sorted((unknown or {}).items()):
        report.add("unknown_signal", name, f"{count} reading(s) of an unknown parameter; ignored")
    for name, count in sorted((missing or {}).items()):
        report.add("missing_code", name, f"{count} reading(s) coded as missing (-1); ignored")
    grouped: dict[str, list[tuple[float, float]]] = defaultdict(list)
    bad_units: dict[tuple[str, str], int] = defaultdict(int)
    for hours, key, value, unit in readings:
        spec = specs[key]
        converted = value if unit is None else spec.to_canonical(value, unit)
        if converted is None:
            bad_units[(key, str(unit))] += 1
            continue
        grouped[key].append((hours, converted))
    for (key, unit), count in sorted(bad_units.items()):
        accepted = ", ".join([specs[key].unit, *specs[key].units])
        report.add(
            "unit",
            key,
            f"{count} reading(s) in unit {unit!r} that cannot be converted "
            f"(accepted: {accepted}); ignored",
        )
        if key not in grouped:
            report.add("no_usable_values", key, "no usable reading; the signal is left out")
    signals = {}
    for key in specs:  # catalogue order keeps feature order stable
        if key in grouped:
            arr = np.asarray(grouped[key], dtype=float)  # (n, 2): hours, value
            signals[key] = clean_signal(specs[key], arr[:, 0], arr[:, 1], report)
    return TimeSeriesRecord(record_id, dict(static), signals, report.warnings)
