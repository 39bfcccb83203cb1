"""The observation catalogue: LOINC codes, canonical UCUM units, ranges, conversions.

Kept as data in ``resources/observations.yaml`` (with sources) so ranges change by editing
data, not code.
"""

from __future__ import annotations

import math
from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict

from dxkit.cases.schema import Observation
from dxkit.errors import InputError


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


def format_number(value: float) -> str:
    """Shortest readable form of a number for messages (``25.0`` -> ``25``)."""
    return f"{value:g}"


def format_range(bounds: tuple[float, float], unit: str) -> str:
    """A range for messages, e.g. ``25-45 Cel``."""
    return f"{format_number(bounds[0])}-{format_number(bounds[1])} {unit}"


def _describe(spec: ObservationSpec) -> str:
    return f"{spec.name}, LOINC {spec.loinc}"


def _unit_hint(spec: ObservationSpec, value: float, unit: str) -> str:
    """Suggest the unit that would make a rejected value plausible, if one exists."""
    low, high = spec.plausible
    for other in [spec.unit, *spec.units]:
        if other == unit:
            continue
        converted = spec.to_canonical(value, other)
        if converted is not None and low <= converted <= high:
            return f"check the device reading or the unit (was it {other}?)"
    accepted = ", ".join([spec.unit, *spec.units])
    return f"check the device reading or the unit (accepted units: {accepted})"


def canonical_observation(obs: Observation, where: str) -> Observation:
    """Return ``obs`` converted to its canonical unit, or raise if it cannot be true.

    Unknown codes are returned unchanged (the caller decides whether that is fatal).

    Args:
        obs: the observation as given.
        where: its field path, used in error messages, e.g. ``observations[0]``.

    Raises:
        InputError: the unit does not fit the code, the value is not a finite number, or
            the converted value is outside the physically plausible range.

    >>> obs = Observation(code="8310-5", value=101.3, unit="[degF]")
    >>> canonical_observation(obs, "observations[0]").unit
    'Cel'
    """
    spec = catalogue_by_loinc().get(obs.code)
    if spec is None:
        return obs
    if not math.isfinite(obs.value):
        raise InputError(
            f"{where}.value ({_describe(spec)})",
            expected=f"a finite number in {spec.unit}",
            found=str(obs.value),
            fix="remove the observation or record the actual reading",
        )
    value = spec.to_canonical(obs.value, obs.unit)
    if value is None:
        accepted = ", ".join([spec.unit, *spec.units])
        raise InputError(
            f"{where}.unit ({_describe(spec)})",
            expected=f"one of the UCUM units {accepted}",
            found=repr(obs.unit),
            fix=f"record the value in {spec.unit} or one of the accepted units",
        )
    low, high = spec.plausible
    if not low <= value <= high:
        found = f"{format_number(round(value, 4))} {spec.unit}"
        if obs.unit != spec.unit:
            found = f"{format_number(obs.value)} {obs.unit} (= {found})"
        raise InputError(
            f"{where}.value ({_describe(spec)})",
            expected=format_range(spec.plausible, spec.unit),
            found=found,
            fix=_unit_hint(spec, obs.value, obs.unit),
        )
    return obs.model_copy(update={"value": value, "unit": spec.unit})
