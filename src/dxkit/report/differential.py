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
    disclaimer: str = DISCLAIMER

    @property
    def top(self) -> RankedCondition:
        """The most probable condition."""
        return self.conditions[0]
