"""A differential as FHIR R4 resources: one RiskAssessment and one Condition per candidate.

Why these two resources: an EHR stores a model's output as a ``RiskAssessment`` (each
prediction an outcome with a probability, and the ``method`` saying which model), while
clinicians see diagnoses as ``Condition`` resources; ``verificationStatus = differential``
is FHIR's own way of saying "a candidate being considered, not a diagnosis". Every
resource is built through ``fhir.resources.R4B`` (the classes :mod:`dxkit.cases.fhir`
reads with, whose JSON is R4 for these resources) before it leaves, so a change in the
differential that would produce invalid FHIR fails here and not in a hospital's system.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from dxkit.report.differential import Differential, RankedCondition

ICD10 = "http://hl7.org/fhir/sid/icd-10"
SNOMED = "http://snomed.info/sct"
VER_STATUS = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ISSUE_TYPE = "http://hl7.org/fhir/issue-type"
MODEL_SYSTEM = "urn:dxkit:model-id"
FHIR_JSON = "application/fhir+json"


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def outcome_concept(condition: RankedCondition) -> dict[str, Any]:
    """The condition as a CodeableConcept: ICD-10 and SNOMED CT codings where known."""
    coding = []
    if condition.icd10:
        coding.append({"system": ICD10, "code": condition.icd10, "display": condition.name})
    if condition.snomed:
        coding.append({"system": SNOMED, "code": condition.snomed, "display": condition.name})
    concept: dict[str, Any] = {"text": condition.name}
    if coding:
        concept["coding"] = coding
    return concept


def _rationale(diff: Differential, condition: RankedCondition, rank: int) -> str:
    parts = [f"rank {rank} of {len(diff.conditions)}"]
    if diff.alpha is not None:
        level = round(100 * (1 - diff.alpha))
        inside = condition.name in diff.prediction_set
        parts.append(f"{'in' if inside else 'outside'} the {level}% prediction set")
    if condition.triage is not None:
        parts.append(f"triage {condition.triage.value}")
    if rank == 1 and diff.abstain:
        parts.append("model abstains: refer for clinical assessment")
    return "; ".join(parts)


def _notes(diff: Differential) -> list[dict[str, str]]:
    notes = [f"Triage: {diff.triage.level.value} ({diff.triage.reason})"]
    if diff.alpha is not None:
        members = ", ".join(diff.prediction_set) or "empty"
        notes.append(f"{round(100 * (1 - diff.alpha))}% prediction set: {members}")
    if diff.abstain:
        notes.append(f"Abstained: {diff.abstain_reason or 'the model is not confident'}")
    notes.extend(f"Data quality: {w.message}" for w in diff.warnings)
    notes.append(diff.disclaimer)
    return [{"text": text} for text in notes]


def risk_assessment(
    diff: Differential, subject: str, *, when: datetime | None = None
) -> dict[str, Any]:
    """A RiskAssessment (R4 JSON) whose predictions are the ranked conditions.

    Args:
        diff: the differential to express.
        subject: reference to the Patient, as the request gave it (``Patient/123``).
        when: the assessment time; now when not given.

    The status is ``preliminary`` when the model abstained, so an EHR that filters on
    ``final`` does not show an answer the model itself would not stand behind.
    """
    from fhir.resources.R4B.riskassessment import RiskAssessment

    model = diff.model
    resource = {
        "resourceType": "RiskAssessment",
        "status": "preliminary" if diff.abstain else "final",
        "subject": {"reference": subject},
        "occurrenceDateTime": (when or datetime.now(UTC)).isoformat(),
        "method": {
            "coding": [{"system": MODEL_SYSTEM, "code": model.model_id}],
            "text": f"dxkit {model.dxkit_version} {model.kind} model {model.model_id}",
        },
        "prediction": [
            {
                "outcome": outcome_concept(cond),
                "probabilityDecimal": round(cond.probability, 6),
                "rationale": _rationale(diff, cond, rank),
            }
            for rank, cond in enumerate(diff.conditions, start=1)
        ],
        "note": _notes(diff),
    }
    return RiskAssessment.model_validate(resource).model_dump(mode="json", exclude_none=True)


def differential_condition(condition: RankedCondition, rank: int, subject: str) -> dict[str, Any]:
    """One candidate as a Condition with ``verificationStatus = differential``.

    ``clinicalStatus`` is left out: whether the condition is active is exactly what a
    differential has not established (FHIR requires it only for problem-list items).
    """
    from fhir.resources.R4B.condition import Condition

    resource = {
        "resourceType": "Condition",
        "verificationStatus": {
            "coding": [{"system": VER_STATUS, "code": "differential", "display": "Differential"}]
        },
        "code": outcome_concept(condition),
        "subject": {"reference": subject},
        "note": [
            {"text": f"dxkit differential rank {rank}, probability {condition.probability:.3f}"}
        ],
    }
    return Condition.model_validate(resource).model_dump(mode="json", exclude_none=True)


def differential_bundle(
    diff: Differential, subject: str, *, when: datetime | None = None
) -> dict[str, Any]:
    """A collection Bundle: the RiskAssessment first, then one Condition per candidate."""
    from fhir.resources.R4B.bundle import Bundle

    when = when or datetime.now(UTC)
    resources = [risk_assessment(diff, subject, when=when)]
    resources.extend(
        differential_condition(cond, rank, subject)
        for rank, cond in enumerate(diff.conditions, start=1)
    )
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": when.isoformat(),
        "entry": [{"fullUrl": _urn(), "resource": res} for res in resources],
    }
    return Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)


def operation_outcome(code: str, diagnostics: str) -> dict[str, Any]:
    """An OperationOutcome with one error issue (``code`` from FHIR's issue-type codes).

    ``diagnostics`` must be built from field names and fixed text only: it goes back to
    the caller and into logs, and patient text must reach neither.
    """
    from fhir.resources.R4B.operationoutcome import OperationOutcome

    resource = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
    }
    return OperationOutcome.model_validate(resource).model_dump(mode="json", exclude_none=True)
