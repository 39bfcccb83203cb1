"""The GRU-D network and the tensors it reads (Che et al., Sci. Rep. 2018).

GRU-D ("Recurrent Neural Networks for Multivariate Time Series with Missing Values",
https://doi.org/10.1038/s41598-018-24271-9) keeps a plain GRU but feeds it what
irregular bedside data really is: the masks (was it measured?) as inputs, an input decay
that pulls the last reading towards the training mean as it ages, and a hidden-state
decay driven by the time since each signal was last seen. A vital sign measured a
minute ago and one measured a day ago are therefore different inputs, which a GRU on
forward-filled values cannot tell apart.

This module holds the torch network and the numpy layout it reads (normalisation
included), so :mod:`dxkit.forecast.grud` (contract, training, saving) stays readable. Values
arrive normalised (training mean 0, sd 1), so "decay to the empirical mean" is decay
to 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from dxkit.errors import ModelFormatError
from dxkit.forecast.series import HourlyGrid, TimeSeriesRecord
from dxkit.forecast.signals import signal_specs

DELTA_SCALE = 24.0  # time gaps enter in days, keeping the decay weights near unit scale


@dataclass(frozen=True)
class GridBatch:
    """Arrays of n stays on an hourly grid (T bins, D signals, S static inputs).

    Attributes:
        x: normalised value in the bin, 0 where none, shape (n, T, D).
        mask: 1.0 where the bin holds a usable reading, shape (n, T, D).
        delta: time gap in days since the last reading (GRU-D's delta), (n, T, D).
        x_last: last normalised reading up to the bin, 0 (the mean) before any, (n, T, D).
        static: normalised static facts with missing flags, shape (n, S).
    """

    x: np.ndarray
    mask: np.ndarray
    delta: np.ndarray
    x_last: np.ndarray
    static: np.ndarray

    def take(self, index: np.ndarray) -> GridBatch:
        """The stays at ``index`` (a mini-batch or a split)."""
        return GridBatch(
            self.x[index],
            self.mask[index],
            self.delta[index],
            self.x_last[index],
            self.static[index],
        )

    def tensors(self) -> tuple[torch.Tensor, ...]:
        """float32 tensors in the order :meth:`GruD.forward` takes them."""
        return tuple(
            torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
            for a in (self.x, self.mask, self.delta, self.x_last, self.static)
        )


def forward_fill(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Last observed value at or before each bin along axis 1, 0 before the first.

    >>> x = np.array([[[1.0], [0.0], [3.0], [0.0]]]); m = np.array([[[1.0], [0.0], [1.0], [0.0]]])
    >>> forward_fill(x, m)[0, :, 0].tolist()
    [1.0, 1.0, 3.0, 3.0]
    """
    t_index = np.arange(x.shape[1])[None, :, None]  # (1, T, 1)
    last = np.where(mask > 0, t_index, -1)
    last = np.maximum.accumulate(last, axis=1)  # (n, T, D) index of the last reading
    filled = np.take_along_axis(x, np.maximum(last, 0), axis=1)
    out: np.ndarray = np.where(last >= 0, filled, 0.0)
    return out


class GruD(nn.Module):
    """GRU-D cell unrolled over the grid, with static facts, one logit per hour.

    Args:
        n_signals: D, the number of time-series inputs.
        n_static: S, the number of static inputs (age, sex, ... with missing flags).
        hidden: size of the hidden state.
        dropout: dropout before the output layer.
    """

    def __init__(self, n_signals: int, n_static: int, hidden: int = 64, dropout: float = 0.2):
        super().__init__()
        self.hidden = hidden
        # Input decay is per signal (diagonal W_gamma_x in the paper).
        self.decay_x_weight = nn.Parameter(torch.zeros(n_signals))
        self.decay_x_bias = nn.Parameter(torch.zeros(n_signals))
        self.decay_h = nn.Linear(n_signals, hidden)
        self.static_in = nn.Linear(n_static, hidden)
        self.cell = nn.GRUCell(2 * n_signals + hidden, hidden)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden + hidden, 1))

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        delta: torch.Tensor,
        x_last: torch.Tensor,
        static: torch.Tensor,
    ) -> torch.Tensor:
        """Logits of the outcome after each bin, shape (n, T), from inputs (n, T, D).

        The logit at bin ``t`` depends only on bins ``0..t`` (a causal "risk now").
        """
        n, steps, _ = x.shape
        s = torch.tanh(self.static_in(static))  # (n, H)
        h = torch.zeros(n, self.hidden, dtype=x.dtype)
        gamma_x = torch.exp(-torch.relu(self.decay_x_weight * delta + self.decay_x_bias))
        gamma_h = torch.exp(-torch.relu(self.decay_h(delta)))  # (n, T, H)
        x_hat = mask * x + (1 - mask) * gamma_x * x_last  # decays towards the mean (0)
        outputs = []
        for t in range(steps):
            h = gamma_h[:, t] * h
            h = self.cell(torch.cat([x_hat[:, t], mask[:, t], s], dim=1), h)
            outputs.append(h)
        states = torch.stack(outputs, dim=1)  # (n, T, H)
        joined = torch.cat([states, s[:, None, :].expand(n, steps, self.hidden)], dim=2)
        logits: torch.Tensor = self.head(joined).squeeze(-1)
        return logits


def safe_grid(record: TimeSeriesRecord, hours: int, keys: Sequence[str]) -> HourlyGrid:
    """``record.grid(hours, keys)`` that also holds for signals with no usable reading.

    Why: such a signal (never measured, all readings masked as artefacts, or all later)
    is exactly "never seen" on the grid: NaN values, mask 0 and the gap counted from
    admission; only the measured columns are asked of :meth:`TimeSeriesRecord.grid`.
    """
    present = [
        j
        for j, key in enumerate(keys)
        if key in record.signals
        and (record.signals[key].usable & (record.signals[key].times <= hours)).any()
    ]
    values = np.full((hours, len(keys)), np.nan)
    mask = np.zeros((hours, len(keys)))
    delta = np.repeat(np.arange(1, hours + 1, dtype=float)[:, None], len(keys), axis=1)
    if present:
        part = record.grid(hours, [keys[j] for j in present])
        values[:, present], mask[:, present], delta[:, present] = (
            part.values,
            part.mask,
            part.delta,
        )
    return HourlyGrid(list(keys), values, mask, delta)


_STATIC_NUMERIC = ("age", "gender", "height", "weight_admit")
N_ICU_TYPES = 4


@dataclass
class GridEncoder:
    """Per-signal normalisation fitted on training records, and the grid -> arrays step.

    Attributes:
        signals: signal keys, the column order (the signal table's order).
        hours: default number of hourly bins.
        log: per signal, whether values are log1p-transformed before standardising
            (non-negative and strongly right-skewed in training: lactate, urine...).
        mean: per-signal training mean (after the transform), shape (D,).
        sd: per-signal training sd, 1 where a signal was never or always equally seen.
        static_mean: training mean of age, gender, height, weight_admit.
        static_sd: their training sd.
    """

    signals: list[str]
    hours: int
    log: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    static_mean: np.ndarray
    static_sd: np.ndarray

    @property
    def n_static(self) -> int:
        """S: numeric statics, their missing flags, and one-hot ICU type."""
        return 2 * len(_STATIC_NUMERIC) + N_ICU_TYPES

    @classmethod
    def fit(cls, records: Sequence[TimeSeriesRecord], hours: int) -> GridEncoder:
        """Statistics of usable readings (last per hour) up to ``hours`` in ``records``."""
        keys = list(signal_specs())
        grids = [safe_grid(r, hours, keys).values for r in records]
        values = np.concatenate(grids) if grids else np.full((0, len(keys)), np.nan)
        log, mean, sd = np.zeros(len(keys), bool), np.zeros(len(keys)), np.ones(len(keys))
        for j in range(len(keys)):
            col = values[:, j][~np.isnan(values[:, j])]
            if col.size < 2:
                continue
            skew = float(np.mean((col - col.mean()) ** 3) / (col.std() ** 3 + 1e-12))
            log[j] = bool(col.min() >= 0 and skew > 2.0)
            col = np.log1p(col) if log[j] else col
            mean[j], sd[j] = col.mean(), col.std() if col.std() > 1e-6 else 1.0
        statics = np.array([[r.static.get(k, np.nan) for k in _STATIC_NUMERIC] for r in records])
        with warnings.catch_warnings():  # a fact missing in every record: mean 0, sd 1
            warnings.simplefilter("ignore", RuntimeWarning)
            s_mean = np.nan_to_num(np.nanmean(statics, axis=0)) if statics.size else np.zeros(4)
            s_sd = np.nanstd(statics, axis=0) if statics.size else np.ones(4)
        s_sd = np.where(np.isfinite(s_sd) & (s_sd > 1e-6), s_sd, 1.0)
        return cls(keys, hours, log, mean, sd, s_mean, s_sd)

    def encode(self, records: Sequence[TimeSeriesRecord], hours: int | None = None) -> GridBatch:
        """Normalised arrays of ``records`` over ``hours`` bins (default: fitted hours)."""
        steps = hours or self.hours
        grids = [safe_grid(r, steps, self.signals) for r in records]
        shape = (len(records), steps, len(self.signals))
        raw = np.stack([g.values for g in grids]) if grids else np.full(shape, np.nan)
        mask = np.stack([g.mask for g in grids]) if grids else np.zeros(shape)
        delta = np.stack([g.delta for g in grids]) if grids else np.zeros(shape)
        with np.errstate(invalid="ignore"):
            raw = np.where(self.log, np.log1p(np.maximum(raw, 0.0)), raw)
        x = np.clip(np.nan_to_num((raw - self.mean) / self.sd), -6.0, 6.0) * mask
        return GridBatch(x, mask, delta / DELTA_SCALE, forward_fill(x, mask), self._static(records))

    def _static(self, records: Sequence[TimeSeriesRecord]) -> np.ndarray:
        rows = []
        for r in records:
            vals = np.array([r.static.get(k, np.nan) for k in _STATIC_NUMERIC], dtype=float)
            missing = np.isnan(vals)
            z = np.where(missing, 0.0, (vals - self.static_mean) / self.static_sd)
            icu = np.zeros(N_ICU_TYPES)
            kind = r.static.get("icu_type", np.nan)
            if np.isfinite(kind) and 1 <= int(kind) <= N_ICU_TYPES:
                icu[int(kind) - 1] = 1.0
            rows.append(np.concatenate([np.clip(z, -6, 6), missing.astype(float), icu]))
        return np.array(rows).reshape(len(records), self.n_static)

    def occlude(self, batch: GridBatch, column: int) -> GridBatch:
        """``batch`` with signal ``column`` never measured (explanations by occlusion)."""
        x, mask, delta, x_last = (
            a.copy() for a in (batch.x, batch.mask, batch.delta, batch.x_last)
        )
        x[:, :, column] = mask[:, :, column] = x_last[:, :, column] = 0.0
        delta[:, :, column] = np.arange(1, x.shape[1] + 1) / DELTA_SCALE
        return GridBatch(x, mask, delta, x_last, batch.static)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready statistics (stored in the model manifest)."""
        return {
            "signals": self.signals,
            "hours": self.hours,
            "log": self.log.tolist(),
            "mean": self.mean.tolist(),
            "sd": self.sd.tolist(),
            "static": list(_STATIC_NUMERIC),
            "static_mean": self.static_mean.tolist(),
            "static_sd": self.static_sd.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GridEncoder:
        """Rebuild from :meth:`to_dict` output.

        Raises:
            ModelFormatError: the signal table of this dxkit version differs.
        """
        if list(data["signals"]) != list(signal_specs()):
            raise ModelFormatError(
                "forecast model signals",
                expected="the signal layout of this dxkit version",
                found="a different signal table",
                fix="retrain with this version of dxkit",
            )
        arr = {
            k: np.asarray(data[k], dtype=float) for k in ("mean", "sd", "static_mean", "static_sd")
        }
        return cls(
            list(data["signals"]), int(data["hours"]), np.asarray(data["log"], dtype=bool), **arr
        )
