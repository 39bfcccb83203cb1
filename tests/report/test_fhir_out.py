"""Differential -> FHIR R4: RiskAssessment predictions and differential Conditions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from dxkit.report.differential import Differential, ModelInfo, RankedCondition
from dxkit.report.fhir_out import (
    ICD10,
    SNOMED,
    VER_STATUS,
    differential_bundle,
    operation_outcome,
    risk_assessment,
)
from dxkit.triage.combine import TriageDecision

WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def differential(**overrides: Any) -> Differential:
    values: dict[str, Any] = {
        "case_id": "c1",
        "conditions": [
            RankedCondition(
                name="Pneumonia",
                label="pneumonia",
                icd10="J18.9",
                snomed="233604007",
                probability=0.7,
                triage="urgent",
            ),
            RankedCondition(name="Common cold", label="cold", probability=0.3),
        ],
        "triage": TriageDecision(level="urgent", reason="pneumonia is urgent"),
        "alpha": 0.1,
        "prediction_set": ["Pneumonia"],
        "model": ModelInfo(kind="tfidf", dxkit_version="0.1", n_labels=2, model_id="m-123"),
    }
    values.update(overrides)
    return Differential(**values)


def test_bundle_holds_a_risk_assessment_then_one_condition_per_candidate() -> None:
    bundle = differential_bundle(differential(), "Patient/p1", when=WHEN)
    Bundle.model_validate(bundle)  # valid R4(B) as a whole
    assert bundle["type"] == "collection"
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds == ["RiskAssessment", "Condition", "Condition"]
    assert all(e["fullUrl"].startswith("urn:uuid:") for e in bundle["entry"])
    assert len({e["fullUrl"] for e in bundle["entry"]}) == 3


def test_risk_assessment_predictions_carry_codes_probabilities_and_rationale() -> None:
    risk = risk_assessment(differential(), "Patient/p1", when=WHEN)
    assert risk["status"] == "final"
    assert risk["subject"] == {"reference": "Patient/p1"}
    assert risk["method"]["coding"][0]["code"] == "m-123"
    assert "tfidf" in risk["method"]["text"]
    first, second = risk["prediction"]
    assert {(c["system"], c["code"]) for c in first["outcome"]["coding"]} == {
        (ICD10, "J18.9"),
        (SNOMED, "233604007"),
    }
    assert first["probabilityDecimal"] == pytest.approx(0.7)
    assert "in the 90% prediction set" in first["rationale"]
    assert "outside the 90% prediction set" in second["rationale"]
    assert second["outcome"] == {"text": "Common cold"}  # no invented codes
    notes = " ".join(n["text"] for n in risk["note"])
    assert "Decision support only" in notes and "urgent" in notes


def test_abstention_makes_the_assessment_preliminary_and_says_why() -> None:
    risk = risk_assessment(
        differential(abstain=True, abstain_reason="set too large"), "Patient/p1", when=WHEN
    )
    assert risk["status"] == "preliminary"
    assert "abstains" in risk["prediction"][0]["rationale"]
    assert any("set too large" in n["text"] for n in risk["note"])


def test_conditions_are_differential_without_clinical_status() -> None:
    bundle = differential_bundle(differential(), "Patient/p1", when=WHEN)
    condition = bundle["entry"][1]["resource"]
    assert condition["verificationStatus"]["coding"][0] == {
        "system": VER_STATUS,
        "code": "differential",
        "display": "Differential",
    }
    assert "clinicalStatus" not in condition
    assert condition["code"]["text"] == "Pneumonia"
    assert condition["subject"]["reference"] == "Patient/p1"


def test_operation_outcome_is_a_valid_error_issue() -> None:
    outcome = operation_outcome("required", "Bundle: expected a Patient")
    OperationOutcome.model_validate(outcome)
    assert outcome["issue"] == [
        {"severity": "error", "code": "required", "diagnostics": "Bundle: expected a Patient"}
    ]
