"""Which signals drove one forecast: occlusion of each signal's feature group.

Why occlusion: scikit-learn's boosting has no SHAP, and the question a clinician asks is
"which measurements made this risk high?", i.e. what happens to the risk without them.
Each signal's features (all windows) are set to missing, the one case the model already
handles, and the drop in the model's raw (pre-calibration) risk is that signal's
contribution; the isotonic map is a step function that would hide most differences. One batched
prediction per stay keeps it cheap (one row per signal).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from dxkit.forecast.features import feature_groups, summarise
from dxkit.forecast.gbm import GbmForecaster
from dxkit.forecast.series import TimeSeriesRecord
from dxkit.forecast.signals import signal_specs


@dataclass(frozen=True)
class Contribution:
    """One signal's share in a forecast.

    Attributes:
        signal: signal key, score name (``news2``, ``sofa``...) or static fact.
        delta: raw model risk with the signal minus without it (positive: raised it).
        last_time: hour of its last usable reading up to the prediction time (signals).
        last_value: that reading, in ``unit``.
        unit: canonical unit of the signal ("" for scores and static facts).
        readings: number of usable readings used.
    """

    signal: str
    delta: float
    last_time: float | None = None
    last_value: float | None = None
    unit: str = ""
    readings: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def top_signals(
    model: GbmForecaster, record: TimeSeriesRecord, *, top: int = 5
) -> list[Contribution]:
    """The ``top`` groups whose removal lowers the risk most, largest first.

    Only groups that raised the risk are listed, so the answer reads as "why high".
    """
    end = float(model.hours)
    base = summarise(record, end)  # (F,)
    groups = feature_groups()
    names = list(groups)
    rows = np.repeat(base[None, :], len(names) + 1, axis=0)  # (G + 1, F)
    for i, name in enumerate(names, start=1):
        rows[i, groups[name]] = np.nan
    risk = model.raw_features(rows)
    deltas = risk[0] - risk[1:]
    order = np.argsort(-deltas)
    specs = signal_specs()
    out = []
    for i in order[:top]:
        if deltas[i] <= 0:
            break
        name = names[i]
        series = record.signals.get(name)
        if series is None or name not in specs:
            out.append(Contribution(name, float(deltas[i])))
            continue
        t, v = series.clean(until=end)
        last_t = float(t[-1]) if t.size else None
        last_v = float(v[-1]) if v.size and math.isfinite(v[-1]) else None
        out.append(Contribution(name, float(deltas[i]), last_t, last_v, specs[name].unit, t.size))
    return out
