"""The case schema: one patient at one time.

Field names are the public JSON contract (``case_id``, ``patient_id``, ``age``, ``sex``,
``lifestyle``, ``history``, ``notes``, ``observations``). Unknown fields are rejected
(``extra="forbid"``) so a typo in an integration never silently drops data.

Ages above 89 are an identifier under HIPAA Safe Harbor, so every representation that
leaves the process goes through :func:`public_age`, which reports them as ``"90+"``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

AGE_CAP = 89  # ages above this are reported as "90+" (HIPAA Safe Harbor)


class Sex(StrEnum):
    """Administrative sex, as recorded; ``unknown`` when not given."""

    female = "female"
    male = "male"
    other = "other"
    unknown = "unknown"


_SEX_ALIASES = {
    "f": Sex.female,
    "female": Sex.female,
    "woman": Sex.female,
    "女": Sex.female,
    "m": Sex.male,
    "male": Sex.male,
    "man": Sex.male,
    "男": Sex.male,
    "other": Sex.other,
    "o": Sex.other,
    "unknown": Sex.unknown,
    "u": Sex.unknown,
    "": Sex.unknown,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, hide_input_in_errors=True)


class Lifestyle(_Strict):
    """Lifestyle facts that shift disease priors (smoking, alcohol, activity, work)."""

    smoking: str | None = Field(None, description="never | former | current")
    alcohol: str | None = Field(None, description="none | moderate | heavy")
    activity: str | None = Field(None, description="sedentary | moderate | active")
    occupation: str | None = None


class History(_Strict):
    """What the patient brings with them: past conditions, drugs, allergies, family."""

    past_conditions: list[str] = Field(default_factory=list)
    medications: list[str] = Field(default_factory=list)
    allergies: list[str] = Field(default_factory=list)
    family_history: list[str] = Field(default_factory=list)


class Observation(_Strict):
    """One measurement from a device or lab: LOINC code, value and UCUM unit."""

    code: str = Field(min_length=1, description="LOINC code, e.g. 8310-5 (body temperature)")
    value: float
    unit: str = Field(description="UCUM unit, e.g. Cel, /min, mm[Hg], %")
    time: datetime | None = None
    source: str | None = Field(None, description="device or lab that produced the value")


class Case(_Strict):
    """One patient at one time: notes, structured facts and device observations."""

    case_id: str = Field(min_length=1)
    patient_id: str | None = None
    age: float | None = Field(None, ge=0, le=125, description="years; '90+' accepted")
    sex: Sex = Sex.unknown
    lifestyle: Lifestyle = Field(default_factory=Lifestyle)
    history: History = Field(default_factory=History)
    notes: str = ""
    observations: list[Observation] = Field(default_factory=list)
    deidentified: bool = Field(
        False,
        description="true once dxkit.deid has replaced the identifiers in the text fields, "
        "or when the case has none by construction (synthetic); the pipeline skips it then",
    )

    @field_validator("age", mode="before")
    @classmethod
    def _parse_age(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().endswith("+"):
            return float(value.strip()[:-1])
        return value

    @field_validator("sex", mode="before")
    @classmethod
    def _parse_sex(cls, value: Any) -> Any:
        if value is None:
            return Sex.unknown
        if isinstance(value, str) and value.strip().lower() in _SEX_ALIASES:
            return _SEX_ALIASES[value.strip().lower()]
        return value

    def to_public_dict(self) -> dict[str, Any]:
        """JSON-ready dict for output leaving the process (age capped as ``"90+"``)."""
        data = self.model_dump(mode="json")
        data["age"] = public_age(self.age)
        return data


class LabeledCase(_Strict):
    """A case with its reference diagnosis and, where known, a reference differential.

    ``differential`` maps condition label to probability (DDXPlus gives one); models train
    on it as soft targets where present.
    """

    case: Case
    label: str = Field(min_length=1)
    differential: dict[str, float] | None = None


def public_age(age: float | None) -> int | str | None:
    """Age as it may leave the process: whole years, with ages over 89 as ``"90+"``.

    >>> public_age(45.7), public_age(89.5), public_age(90), public_age(None)
    (45, 89, '90+', None)
    """
    if age is None:
        return None
    if int(age) > AGE_CAP:  # whole years: 89.5 is still 89
        return f"{AGE_CAP + 1}+"
    return int(age)


AGE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("0-4", 0, 5),
    ("5-17", 5, 18),
    ("18-39", 18, 40),
    ("40-64", 40, 65),
    ("65+", 65, 200),
)


def age_band(age: float | None) -> str:
    """The age band used for priors and subgroup metrics.

    >>> age_band(3), age_band(17.9), age_band(70), age_band(None)
    ('0-4', '5-17', '65+', 'unknown')
    """
    if age is None:
        return "unknown"
    for name, low, high in AGE_BANDS:
        if low <= age < high:
            return name
    return "unknown"
