"""POST /v1/diagnose/fhir: a FHIR Bundle in, RiskAssessment + Conditions out, errors as
OperationOutcome, identifiers removed before the model and absent from every answer."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from dxkit.cases.fhir import case_to_fhir_bundle
from dxkit.cases.schema import Case, Observation
from dxkit.deid.engine import Detector
from dxkit.models.base import DiagnosisModel
from dxkit.service.app import create_app
from dxkit.service.auth import Authenticator
from dxkit.service.settings import ServiceSettings

FHIR_JSON = "application/fhir+json"
CANARY_NAME = "Zebulon Quaxley"
CANARY_PHONE = "617-555-0199"


@pytest.fixture()
def client(
    tmp_path: Path,
    tiny_model: DiagnosisModel,
    detector: Detector,
    authenticator: Authenticator,
    token_auth: Callable[..., Any],
) -> Iterator[TestClient]:
    settings = ServiceSettings(database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}", top=3)
    app = create_app(settings, model=tiny_model, detector=detector, authenticator=authenticator)
    with TestClient(app) as test_client:
        test_client.auth = token_auth(patient="p-1")
        yield test_client


def bundle(notes: str = "fever and cough for three days, short of breath") -> dict[str, Any]:
    case = Case(
        case_id="fhir-1",
        patient_id="p-1",
        age=54,
        sex="female",
        notes=notes,
        observations=[Observation(code="8310-5", value=38.9, unit="Cel")],
    )
    return case_to_fhir_bundle(case)


def post(client: TestClient, body: Any) -> Any:
    return client.post("/v1/diagnose/fhir", json=body, headers={"Content-Type": FHIR_JSON})


def resources(answer: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in answer["entry"] if e["resource"]["resourceType"] == kind]


def test_bundle_in_risk_assessment_and_differential_conditions_out(client: TestClient) -> None:
    request = bundle()
    response = post(client, request)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    answer = response.json()
    Bundle.model_validate(answer)
    assert answer["type"] == "collection"
    (risk,) = resources(answer, "RiskAssessment")
    subject = f"Patient/{request['entry'][0]['resource']['id']}"
    assert risk["subject"]["reference"] == subject
    probabilities = [p["probabilityDecimal"] for p in risk["prediction"]]
    assert len(probabilities) == 3
    assert probabilities == sorted(probabilities, reverse=True)
    assert risk["prediction"][0]["outcome"]["text"].lower().endswith("pneumonia")
    assert "tfidf" in risk["method"]["text"].lower()
    conditions = resources(answer, "Condition")
    assert len(conditions) == 3
    for condition in conditions:
        assert condition["verificationStatus"]["coding"][0]["code"] == "differential"
        assert condition["subject"]["reference"] == subject


def test_notes_in_a_document_reference_are_read(client: TestClient) -> None:
    request = bundle(notes="")
    request["entry"] = request["entry"][:1]  # the Patient only: no observation, no note
    patient_url = request["entry"][0]["fullUrl"]
    text = "fever and productive cough for three days, short of breath"
    request["entry"].append(
        {
            "resource": {
                "resourceType": "DocumentReference",
                "status": "current",
                "subject": {"reference": patient_url},
                "content": [
                    {
                        "attachment": {
                            "contentType": "text/plain",
                            "data": base64.b64encode(text.encode()).decode(),
                        }
                    }
                ],
            }
        }
    )
    response = post(client, request)
    assert response.status_code == 200, response.text
    (risk,) = resources(response.json(), "RiskAssessment")
    assert risk["prediction"][0]["outcome"]["text"].lower().endswith("pneumonia")


def outcome(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body = response.json()
    OperationOutcome.model_validate(body)
    (issue,) = body["issue"]
    assert issue["severity"] == "error"
    assert issue["code"] == code
    return str(issue["diagnostics"])


def test_malformed_json_is_a_400_operation_outcome(client: TestClient) -> None:
    response = client.post(
        "/v1/diagnose/fhir",
        content=b'{"resourceType": "Bundle",',
        headers={"Content-Type": FHIR_JSON},
    )
    assert "malformed JSON" in outcome(response, 400, "structure")


def test_a_resource_that_is_not_a_bundle_is_refused(client: TestClient) -> None:
    diagnostics = outcome(post(client, {"resourceType": "Patient"}), 400, "structure")
    assert "expected a FHIR Bundle" in diagnostics and "'Patient'" in diagnostics


def test_an_invalid_resource_names_the_element_without_its_value(client: TestClient) -> None:
    request = bundle(notes=f"{CANARY_NAME} has a cough")
    request["entry"][0]["resource"]["birthDate"] = "not-a-date"
    diagnostics = outcome(post(client, request), 422, "invalid")
    assert "birthDate" in diagnostics and "Fix:" in diagnostics
    assert "not-a-date" not in diagnostics and CANARY_NAME not in diagnostics


def test_a_bundle_without_patient_or_content_is_required_error(client: TestClient) -> None:
    no_patient = bundle()
    no_patient["entry"] = no_patient["entry"][1:]
    assert "exactly one Patient" in outcome(post(client, no_patient), 422, "required")
    empty = bundle(notes="")
    empty["entry"] = empty["entry"][:1]
    assert "no notes and no usable observations" in outcome(post(client, empty), 422, "required")


def test_a_unit_that_does_not_fit_is_an_invalid_outcome(client: TestClient) -> None:
    request = bundle()
    request["entry"][1]["resource"]["valueQuantity"]["code"] = "mm[Hg]"
    request["entry"][1]["resource"]["valueQuantity"]["unit"] = "mm[Hg]"
    diagnostics = outcome(post(client, request), 422, "invalid")
    assert "expected" in diagnostics and "Fix:" in diagnostics


def test_canary_identifiers_reach_neither_model_nor_answer_nor_logs(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    notes = f"Patient {CANARY_NAME} reports fever and cough, call back on {CANARY_PHONE}."
    with caplog.at_level(logging.DEBUG):
        response = post(client, bundle(notes))
    assert response.status_code == 200
    for canary in (CANARY_NAME, "Quaxley", CANARY_PHONE):
        assert canary not in response.text
        assert canary not in caplog.text


def test_openapi_documents_the_fhir_media_type(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/v1/diagnose/fhir"]["post"]
    assert FHIR_JSON in operation["requestBody"]["content"]
    assert FHIR_JSON in operation["responses"]["422"]["content"]


def test_a_partial_birth_date_is_read_not_a_crash(client: TestClient) -> None:
    request = bundle()
    request["entry"][0]["resource"]["birthDate"] = "1970"  # FHIR allows year-only dates
    response = post(client, request)
    assert response.status_code == 200, response.text


def test_an_unknown_resource_type_is_an_invalid_outcome(client: TestClient) -> None:
    request = bundle()
    request["entry"].append({"resource": {"resourceType": "Requirements"}})  # R5 only
    response = post(client, request)
    assert response.status_code == 422, response.text
    assert response.json()["issue"][0]["code"] == "invalid"
