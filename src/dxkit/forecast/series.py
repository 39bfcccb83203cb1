"""Time-series records: one ICU stay as static facts plus irregular per-signal series.

Why a record type of its own: a :class:`~dxkit.cases.schema.Case` is one patient at one
time, while deterioration is about how readings move. A :class:`TimeSeriesRecord` keeps
each signal as sorted ``(hours since admission, canonical value)`` arrays with a mask of
usable readings, so artefacts stay visible (masked, with a warning) instead of being
dropped or silently used. :meth:`TimeSeriesRecord.grid` gives the tensor-friendly view
(values, masks, time since last reading on an hourly grid) that recurrent models need.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from dxkit.cases.schema import Case, Sex
from dxkit.forecast.signals import signal_specs
from dxkit.quality.validate import QualityWarning


@dataclass(frozen=True)
class SignalSeries:
    """One signal of one record, sorted by time, in the signal's canonical unit.

    Attributes:
        times: hours since admission, shape (n,), non-decreasing, no duplicates.
        values: canonical values, shape (n,).
        usable: shape (n,) bool; False marks an artefact (masked, never used).
    """

    times: np.ndarray
    values: np.ndarray
    usable: np.ndarray

    def clean(self, until: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Usable ``(times, values)``, optionally only readings at or before ``until``."""
        keep = self.usable if until is None else self.usable & (self.times <= until)
        return self.times[keep], self.values[keep]


@dataclass(frozen=True)
class HourlyGrid:
    """A record on an hourly grid, the input layout of GRU-D style models.

    Bin ``t`` covers hours ``[t, t + 1)``. Shapes are (hours, n_signals).

    Attributes:
        signals: signal keys, the column order.
        values: last usable reading in the bin; NaN where none (``mask`` 0).
        mask: 1.0 where the bin holds a usable reading, else 0.0.
        delta: hours from the last usable reading (before the bin's end) to the
            bin's end; from admission when there is none yet (GRU-D's time gap).
    """

    signals: list[str]
    values: np.ndarray
    mask: np.ndarray
    delta: np.ndarray


@dataclass
class TimeSeriesRecord:
    """One stay: id, static facts (NaN where unknown), signals and quality warnings.

    Attributes:
        record_id: the stay's id (PhysioNet RecordID, case id or FHIR patient id).
        static: ``age`` (years), ``gender`` (0 female, 1 male), ``height`` (cm),
            ``icu_type`` (1-4), ``weight_admit`` (kg); NaN when missing.
        signals: signal key to its series; signals never measured are absent.
        warnings: data-quality findings naming the record and signal, never free text.
    """

    record_id: str
    static: dict[str, float] = field(default_factory=dict)
    signals: dict[str, SignalSeries] = field(default_factory=dict)
    warnings: list[QualityWarning] = field(default_factory=list)

    def last_time(self) -> float:
        """Hour of the latest usable reading (0 when there is none)."""
        ends = [float(s.times[s.usable].max()) for s in self.signals.values() if s.usable.any()]
        return max(ends, default=0.0)

    def grid(self, hours: int, signals: Sequence[str] | None = None) -> HourlyGrid:
        """The record on an hourly grid of ``hours`` bins (see :class:`HourlyGrid`).

        >>> rec = TimeSeriesRecord("r1", signals={"heart_rate": SignalSeries(
        ...     np.array([0.5, 2.2]), np.array([80.0, 90.0]), np.array([True, True]))})
        >>> g = rec.grid(3, ["heart_rate"])
        >>> g.values[:, 0].tolist(), g.mask[:, 0].tolist(), g.delta[:, 0].round(1).tolist()
        ([80.0, nan, 90.0], [1.0, 0.0, 1.0], [0.5, 1.5, 0.8])
        """
        keys = list(signals) if signals is not None else list(signal_specs())
        values = np.full((hours, len(keys)), np.nan)  # (T, S)
        mask = np.zeros((hours, len(keys)))
        delta = np.zeros((hours, len(keys)))
        ends = np.arange(1, hours + 1, dtype=float)  # (T,) bin ends
        for j, key in enumerate(keys):
            series = self.signals.get(key)
            times, vals = series.clean(until=float(hours)) if series else (np.empty(0),) * 2
            if times.size == 0:  # never measured: time since "admission" at each bin end
                delta[:, j] = ends
                continue
            bins = np.floor(times).astype(int)
            inside = bins < hours
            values[bins[inside], j] = vals[inside]  # later readings overwrite: last wins
            mask[bins[inside], j] = 1.0
            last_idx = np.searchsorted(times, ends, side="left") - 1  # (T,) readings < end
            last_t = np.where(last_idx >= 0, times[np.maximum(last_idx, 0)], 0.0)
            delta[:, j] = ends - last_t
        return HourlyGrid(keys, values, mask, delta)


Reading = tuple[float, str, float, str | None]
"""``(hours since admission, signal key, value, UCUM unit or None = canonical)``."""


def records_from_cases(cases: Iterable[Case]) -> list[TimeSeriesRecord]:
    """Records from cases whose observations carry times (LOINC codes, UCUM units).

    Admission is the earliest observation time of the case. Untimed observations and
    codes the forecaster does not know are reported as warnings and not used.
    """
    from dxkit.forecast.checks import assemble_record
    from dxkit.forecast.signals import by_loinc

    records = []
    for case in cases:
        timed = [o for o in case.observations if o.time is not None]
        start = min((o.time for o in timed if o.time is not None), default=None)
        readings: list[Reading] = []
        unknown: dict[str, int] = {}
        untimed = len(case.observations) - len(timed)
        for obs in timed:
            spec = by_loinc().get(obs.code)
            if spec is None:
                unknown[f"LOINC {obs.code}"] = unknown.get(f"LOINC {obs.code}", 0) + 1
                continue
            assert obs.time is not None and start is not None
            hours = (_aware(obs.time) - _aware(start)).total_seconds() / 3600.0
            readings.append((hours, spec.key, obs.value, obs.unit))
        static = {
            "age": math.nan if case.age is None else float(case.age),
            "gender": {Sex.female: 0.0, Sex.male: 1.0}.get(case.sex, math.nan),
        }
        record = assemble_record(case.case_id, static, readings, unknown=unknown)
        if untimed:
            record.warnings.append(
                QualityWarning(
                    "untimed_observation",
                    f"{case.case_id}.observations",
                    f"record {case.case_id}: {untimed} observation(s) without a time were "
                    "not used for the forecast; add the measurement time",
                )
            )
        records.append(record)
    return records


def records_from_fhir(path: Path) -> list[TimeSeriesRecord]:
    """Records from a FHIR R4 Bundle of Observations (one record per Patient)."""
    from dxkit.cases.fhir import read_fhir_bundle

    cases = [c if isinstance(c, Case) else c.case for c in read_fhir_bundle(path)]
    return records_from_cases(cases)


def _aware(time: datetime) -> datetime:
    return time if time.tzinfo is not None else time.replace(tzinfo=UTC)
