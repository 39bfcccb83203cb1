"""The answer dxkit gives for one case: a typed, JSON-ready differential.

Why one object: the CLI table, the JSON output, and later FHIR and the web page all
render the same :class:`Differential`, so they can never disagree about what was said.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from dxkit.explain.evidence import EvidenceItem
from dxkit.knowledge.schema import Triage
from dxkit.quality.validate import QualityWarning
from dxkit.triage.combine import TriageDecision

DISCLAIMER = (
    "Decision support only: probabilities are estimates from a statistical model and are "
    "not a substitute for clinical judgement."
)


class RankedCondition(BaseModel):
    """One condition in the differential with its codes and probability."""

    model_config = ConfigDict(frozen=True)
    name: str
    label: str = ""  # the model's own label (name is the knowledge base's, where known)
    icd10: str | None = None
    snomed: str | None = None
    probability: float = Field(ge=0, le=1)
    triage: Triage | None = None
    red_flags: list[str] = Field(default_factory=list)
    # What in this case speaks for and against the condition (filled on request).
    supporting: list[EvidenceItem] = Field(default_factory=list)
    opposing: list[EvidenceItem] = Field(default_factory=list)


class ModelInfo(BaseModel):
    """Which model produced the answer, so every answer can be traced."""

    model_config = ConfigDict(frozen=True)
    kind: str
    dxkit_version: str
    n_labels: int
    model_id: str = "unsaved"  # digest of the saved model's manifest: which model exactly
    trained_at: str | None = None


class SignalContribution(BaseModel):
    """One measured signal that raised the forecast risk (occlusion: risk with minus without)."""

    model_config = ConfigDict(frozen=True)
    signal: str
    delta: float
    last_time: float | None = None  # hours since the case's first timed observation
    last_value: float | None = None
    unit: str = ""
    readings: int = 0


class ForecastSummary(BaseModel):
    """Where the case's bedside series are heading: early-warning scores and model risk.

    Present only when the case has timed observations of forecast signals. Without a
    forecast model only the score timeline is filled (it needs no model); times are
    hours since the case's first timed observation.
    """

    model_config = ConfigDict(frozen=True)
    hours_observed: float
    news2_hourly: list[float | None] = Field(default_factory=list)  # at the end of each hour
    news2_now: float | None = None
    news2_max: float | None = None
    news2_trend: str = "unknown"  # rising / falling / stable over the last 6 h
    qsofa_now: float | None = None
    sofa_now: float | None = None
    risk_now: float | None = Field(default=None, ge=0, le=1)
    risk_trend: str = "unknown"
    risk_change_6h: float | None = None
    alert: bool | None = None  # risk now at or above the model's alert threshold
    horizon_hours: int | None = None  # the model predicts in-hospital death from this window
    top_signals: list[SignalContribution] = Field(default_factory=list)
    model_id: str | None = None
    warnings: list[QualityWarning] = Field(default_factory=list)


class Differential(BaseModel):
    """Ranked conditions, triage, data-quality warnings and provenance for one case."""

    case_id: str
    age: int | str | None = None  # public form: ages over 89 are "90+"
    sex: str = "unknown"
    conditions: list[RankedCondition]
    triage: TriageDecision
    alpha: float | None = None  # error rate of the prediction set, when the model has one
    prediction_set: list[str] = Field(default_factory=list)  # holds the truth w.p. >= 1 - alpha
    abstain: bool = False
    abstain_reason: str = ""
    warnings: list[QualityWarning] = Field(default_factory=list)
    model: ModelInfo
    forecast: ForecastSummary | None = None  # only for cases with bedside time series
    disclaimer: str = DISCLAIMER

    @property
    def top(self) -> RankedCondition:
        """The most probable condition."""
        return self.conditions[0]
