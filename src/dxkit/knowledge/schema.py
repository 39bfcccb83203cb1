"""Typed entries of the knowledge base, validated when the YAML is loaded.

Why typed: the knowledge base is edited by clinicians as data; a misspelt key or a
probability of 8 instead of 0.8 must fail loudly at load time (and in CI), not skew a
synthetic cohort silently.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

AGE_BAND_NAMES = ("0-4", "5-17", "18-39", "40-64", "65+")


class Triage(StrEnum):
    """How soon a patient with this condition must be seen, most urgent first."""

    emergency = "emergency"
    urgent = "urgent"
    routine = "routine"
    self_care = "self-care"

    @property
    def rank(self) -> int:
        """0 for emergency ... 3 for self-care, so ``min`` picks the most urgent."""
        return list(Triage).index(self)


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Symptom(_Entry):
    """A symptom, sign or history item with the ways people write it down.

    ``en`` / ``zh`` hold several phrasings (lay and clinical) so generated notes vary the
    way real notes do; the first one is the canonical display name.
    """

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    en: list[str] = Field(min_length=1)
    zh: list[str] = Field(min_length=1)
    kind: str = Field("symptom", pattern=r"^(symptom|sign|history)$")


class SymptomLink(_Entry):
    """P(symptom present | condition)."""

    id: str
    p: float = Field(gt=0, le=1)


class ObservationShift(_Entry):
    """Typical value range of an observation under a condition, and how often it is seen."""

    range: tuple[float, float]
    p: float = Field(0.7, gt=0, le=1)

    @field_validator("range")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] > value[1]:
            raise ValueError(f"range must be [low, high]; found {list(value)}")
        return value


class Condition(_Entry):
    """A diagnosable condition with codes, priors, findings, red flags and sources."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    name: str
    name_zh: str
    aliases: list[str] = Field(default_factory=list)
    icd10: str = Field(pattern=r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")
    snomed: str = Field(pattern=r"^[0-9]{6,18}$")
    category: str
    triage: Triage
    prevalence: float = Field(gt=0, description="relative frequency among GP/ED presentations")
    age_weights: dict[str, float] = Field(default_factory=dict)
    sex_weights: dict[str, float] = Field(default_factory=dict)
    symptoms: list[SymptomLink] = Field(min_length=3)
    observations: dict[str, ObservationShift] = Field(default_factory=dict)
    risk_factors: list[str] = Field(default_factory=list)
    red_flags: list[str] = Field(default_factory=list)
    sources: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_weights(self) -> Condition:
        unknown_bands = set(self.age_weights) - set(AGE_BAND_NAMES)
        if unknown_bands:
            raise ValueError(
                f"age_weights keys must be among {AGE_BAND_NAMES}; found {sorted(unknown_bands)}"
            )
        unknown_sex = set(self.sex_weights) - {"female", "male"}
        if unknown_sex:
            raise ValueError(f"sex_weights keys must be female/male; found {sorted(unknown_sex)}")
        if any(w < 0 for w in [*self.age_weights.values(), *self.sex_weights.values()]):
            raise ValueError("age/sex weights must be >= 0")
        return self

    def prior(self, age_band: str, sex: str) -> float:
        """Unnormalised prior for a patient of this age band and sex."""
        return (
            self.prevalence * self.age_weights.get(age_band, 1.0) * self.sex_weights.get(sex, 1.0)
        )
