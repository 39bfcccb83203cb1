"""The bedside signals the forecaster reads, loaded from ``resources/forecast/signals.yaml``.

Why data: which LOINC code a monitor channel maps to, its canonical unit and the limits
beyond which a reading is an artefact are clinical facts that change by editing a file,
not code. Every record, whatever its source (Case, FHIR bundle, PhysioNet file), is
converted to these canonical units before any check or feature sees it.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field


class Conversion(BaseModel):
    """``canonical = value * factor + offset``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    factor: float
    offset: float = 0.0

    def apply(self, value: float) -> float:
        """Convert one value into the canonical unit."""
        return value * self.factor + self.offset


class Mixup(Conversion):
    """A wrong unit seen in practice (temperature in degF, weight in lb, pH times 100)."""

    unit: str
    relative: bool = False


class SignalSpec(BaseModel):
    """One signal: code, canonical unit, artefact limits and its PhysioNet name."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str
    loinc: str | None
    unit: str
    units: dict[str, Conversion] = Field(default_factory=dict)
    plausible: tuple[float, float]
    max_jump: float
    flat_hours: float | None = None
    mixups: list[Mixup] = Field(default_factory=list)
    physionet: str | None = None

    def to_canonical(self, value: float, unit: str) -> float | None:
        """``value`` in the canonical unit, or ``None`` when ``unit`` cannot be converted.

        >>> round(signal_specs()["temperature"].to_canonical(98.6, "[degF]") or 0, 1)
        37.0
        """
        if unit == self.unit:
            return value
        conversion = self.units.get(unit)
        return None if conversion is None else conversion.apply(value)


class StaticSpec(BaseModel):
    """A static descriptor of the stay (age, sex, height, ICU type, admission weight)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str
    physionet: str
    plausible: tuple[float, float]
    loinc: str | None = None


@cache
def _raw() -> dict[str, Any]:
    path = resources.files("dxkit.resources").joinpath("forecast", "signals.yaml")
    data: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    return data


@cache
def signal_specs() -> dict[str, SignalSpec]:
    """All signal specs by key, in file order (the feature order of every model)."""
    return {key: SignalSpec(key=key, **spec) for key, spec in _raw()["signals"].items()}


@cache
def static_specs() -> dict[str, StaticSpec]:
    """Static descriptors by key."""
    return {key: StaticSpec(key=key, **spec) for key, spec in _raw()["static"].items()}


@cache
def by_loinc() -> dict[str, SignalSpec]:
    """Signal specs by LOINC code (signals without a code are not reachable this way)."""
    return {s.loinc: s for s in signal_specs().values() if s.loinc is not None}


@cache
def by_physionet() -> dict[str, SignalSpec]:
    """Signal specs by PhysioNet 2012 parameter name."""
    return {s.physionet: s for s in signal_specs().values() if s.physionet is not None}


def jump_hours() -> float:
    """Readings at most this far apart are compared for impossible jumps (hours)."""
    return float(_raw()["jump_hours"])


def missing_code() -> float:
    """The value PhysioNet uses for "not measured"."""
    return float(_raw()["missing_code"])


def record_id_parameter() -> str:
    """The PhysioNet parameter that carries the record id."""
    return str(_raw()["record_id"])
