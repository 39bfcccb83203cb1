"""The observation catalogue: LOINC codes, canonical UCUM units, ranges, conversions.

Kept as data in ``resources/observations.yaml`` (with sources) so ranges change by editing
data, not code.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict


class UnitConversion(BaseModel):
    """``canonical = value * factor + offset``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    factor: float
    offset: float = 0.0


class ObservationSpec(BaseModel):
    """One observable quantity: its code, canonical unit and value ranges."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str
    loinc: str
    name: str
    name_zh: str
    unit: str
    normal: tuple[float, float]
    unusual: tuple[float, float]
    plausible: tuple[float, float]
    units: dict[str, UnitConversion] = {}

    def to_canonical(self, value: float, unit: str) -> float | None:
        """Convert ``value`` in ``unit`` to the canonical unit; ``None`` if not convertible.

        >>> spec = catalogue_by_key()["temperature"]
        >>> round(spec.to_canonical(101.3, "[degF]"), 2)
        38.5
        """
        if unit == self.unit:
            return value
        conversion = self.units.get(unit)
        if conversion is None:
            return None
        return value * conversion.factor + conversion.offset


@cache
def catalogue_by_key() -> dict[str, ObservationSpec]:
    """All observation specs keyed by their stable name (``temperature``, ``spo2``...)."""
    text = resources.files("dxkit.resources").joinpath("observations.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)["observations"]
    return {key: ObservationSpec(key=key, **spec) for key, spec in raw.items()}


@cache
def catalogue_by_loinc() -> dict[str, ObservationSpec]:
    """The same specs keyed by LOINC code."""
    return {spec.loinc: spec for spec in catalogue_by_key().values()}
