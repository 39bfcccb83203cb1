"""The contract every forecasting model keeps, and loading any saved one.

Why a protocol of its own: a forecaster reads :class:`TimeSeriesRecord` objects and
answers one risk per stay plus an hourly "risk now" curve, which the diagnosis
contract (:class:`dxkit.models.base.DiagnosisModel`) cannot express. Calibration,
alert policies, explanations, the CLI and reports talk to forecasters only through
:class:`ForecastModel`, so a recurrent model (GRU-D style, reading
:meth:`TimeSeriesRecord.grid`) plugs in by keeping it and adding a kind to
:func:`load_forecaster`. Saved forecasters use the manifest of
:mod:`dxkit.models.base` (atomic writes, format version checks).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, Self, runtime_checkable

import numpy as np

from dxkit.errors import ModelFormatError
from dxkit.forecast.metrics import AlertPolicy
from dxkit.forecast.series import TimeSeriesRecord
from dxkit.models.base import read_manifest

OUTCOME_LABELS = ["survived", "in_hospital_death"]


@runtime_checkable
class ForecastModel(Protocol):
    """fit / predict_proba / risk_curve / save / load over time-series records.

    Attributes:
        hours: the prediction time in hours since admission (e.g. 24 or 48); features
            or sequences use readings up to then.
        alert: the alert policy chosen on validation, or ``None`` before fitting.
    """

    hours: int
    alert: AlertPolicy | None

    def fit(self, records: Sequence[TimeSeriesRecord], y: Sequence[int] | np.ndarray) -> Self:
        """Train on records and 0/1 outcomes (1 = in-hospital death), calibrating inside."""
        ...

    def predict_proba(self, records: Sequence[TimeSeriesRecord]) -> np.ndarray:
        """Calibrated risk of the outcome at ``hours``, shape (n,), finite, in [0, 1]."""
        ...

    def risk_curve(self, record: TimeSeriesRecord) -> np.ndarray:
        """Risk recomputed at the end of each hour 1..hours from data up to then, (hours,)."""
        ...

    def save(self, path: Path) -> None:
        """Write everything needed to predict into the directory ``path``, atomically."""
        ...

    @classmethod
    def load(cls, path: Path) -> Self:
        """Read a directory written by :meth:`save`, without any training data."""
        ...


def check_risk(risk: np.ndarray, where: str) -> np.ndarray:
    """Guard the promise that a risk is never NaN: fail loudly instead.

    Raises:
        ModelFormatError: a non-finite risk (a damaged model or a bug, never a user's data).
    """
    if not np.isfinite(risk).all():
        raise ModelFormatError(
            where,
            expected="finite risks",
            found=f"{int((~np.isfinite(risk)).sum())} non-finite value(s)",
            fix="retrain the model; report the record ids if it persists",
        )
    return risk


def load_forecaster(path: Path) -> ForecastModel:
    """Load any saved forecaster, dispatching on the manifest's ``kind``.

    Raises:
        ModelFormatError: not a model directory, a damaged one, or an unknown kind.
    """
    path = Path(path)
    manifest = read_manifest(path)
    kind = manifest.get("kind")
    loader: type[ForecastModel]
    if kind == "forecast-gbm":
        from dxkit.forecast.gbm import GbmForecaster

        loader = GbmForecaster
    elif kind == "forecast-grud":
        from dxkit.forecast.grud import GrudForecaster

        loader = GrudForecaster
    else:
        raise ModelFormatError(
            "forecast model kind",
            expected="a model written by dxkit (kind forecast-gbm or forecast-grud)",
            found=repr(kind),
            fix="pass a forecast model directory, or upgrade dxkit",
        )
    try:
        return loader.load(path)
    except ModelFormatError:
        raise
    except Exception as exc:  # truncated joblib file, missing keys
        raise ModelFormatError(
            "forecast model",
            expected=f"a complete model written by `dxkit forecast train` in {path}",
            found=f"a damaged or incomplete model ({type(exc).__name__})",
            fix="retrain the model into a fresh --out directory",
        ) from None
