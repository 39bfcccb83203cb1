"""CDS Hooks 2.0 endpoints: discovery, patient-view cards, 412 and 400, and latency."""

from __future__ import annotations

import importlib.util
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient

from dxkit.deid.engine import Detector
from dxkit.models.base import DiagnosisModel
from dxkit.service.app import create_app
from dxkit.service.auth import Authenticator
from dxkit.service.settings import ServiceSettings

URL = "/cds-services/dxkit-differential"


def _spec_schemas() -> Any:
    """The spec-derived JSON Schemas, kept once in tests/report/test_cds_hooks.py."""
    path = Path(__file__).parents[1] / "report" / "test_cds_hooks.py"
    spec = importlib.util.spec_from_file_location("_cds_hooks_schemas", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCHEMAS = _spec_schemas()
DISCOVERY_SCHEMA: dict[str, Any] = SCHEMAS.DISCOVERY_SCHEMA
RESPONSE_SCHEMA: dict[str, Any] = SCHEMAS.RESPONSE_SCHEMA


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
        test_client.auth = token_auth(patient="p1")
        yield test_client


def observation(code: str, value: float, unit: str) -> dict[str, Any]:
    return {
        "resource": {
            "resourceType": "Observation",
            "status": "final",
            "category": [{"coding": [{"code": "vital-signs"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": "2024-05-01T10:00:00Z",
            "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": unit},
        }
    }


def hook_request(notes: str = "fever and productive cough, short of breath") -> dict[str, Any]:
    note = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "Note"},
        "subject": {"reference": "Patient/p1"},
        "valueString": notes,
    }
    return {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "fhirServer": "https://ehr.example/fhir",
        "context": {"userId": "Practitioner/7", "patientId": "p1"},
        "prefetch": {
            "patient": {
                "resourceType": "Patient",
                "id": "p1",
                "gender": "female",
                "birthDate": "1970-02-01",
            },
            "vitals": {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [
                    observation("8310-5", 39.1, "Cel"),
                    observation("39156-5", 24.0, "kg/m2"),  # BMI: not used, kept as a warning
                    {"resource": note},
                    {"resource": {"resourceType": "OperationOutcome", "issue": []}},
                ],
            },
        },
    }


def test_discovery_lists_the_patient_view_service(client: TestClient) -> None:
    response = client.get("/cds-services")
    assert response.status_code == 200
    document = response.json()
    jsonschema.validate(document, DISCOVERY_SCHEMA)
    (service,) = document["services"]
    assert (service["id"], service["hook"]) == ("dxkit-differential", "patient-view")
    assert "{{context.patientId}}" in service["prefetch"]["vitals"]


def test_patient_view_answers_one_differential_card(client: TestClient) -> None:
    response = client.post(URL, json=hook_request())
    assert response.status_code == 200, response.text
    answer = response.json()
    jsonschema.validate(answer, RESPONSE_SCHEMA)
    (card,) = answer["cards"]
    assert "pneumonia" in card["summary"].lower()
    assert card["indicator"] in ("info", "warning", "critical")
    assert "| 1 |" in card["detail"] and "Decision support only" in card["detail"]
    assert card["links"][0]["url"].startswith("http") and card["links"][0]["url"].endswith("/docs")


def test_missing_required_prefetch_is_412_and_says_no_fhir_queries(client: TestClient) -> None:
    request = hook_request()
    request["prefetch"]["vitals"] = None  # the spec's "could not prefetch"
    response = client.post(URL, json=request)
    assert response.status_code == 412
    error = response.json()["error"]
    assert "vitals" in error["found"]
    assert "does not query FHIR servers" in error["fix"]
    del request["prefetch"]
    assert client.post(URL, json=request).status_code == 412


@pytest.mark.parametrize(
    "change",
    [
        {"hook": "order-select"},
        {"hookInstance": None},
        {"context": {"userId": "Practitioner/7"}},
    ],
)
def test_malformed_requests_are_400_with_a_json_error(
    client: TestClient, change: dict[str, Any]
) -> None:
    request = {**hook_request(), **change}
    request = {k: v for k, v in request.items() if v is not None}
    response = client.post(URL, json=request)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["what"] == "invalid CDS Hooks request"
    assert "fever" not in response.text


def test_unparseable_json_and_bad_prefetch_are_400(client: TestClient) -> None:
    response = client.post(URL, content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["what"] == "malformed JSON"
    request = hook_request()
    request["prefetch"]["patient"]["birthDate"] = "yesterday"
    bad = client.post(URL, json=request)
    assert bad.status_code == 400
    assert "birthDate" in bad.json()["error"]["what"]


def test_a_chart_without_notes_or_vitals_gets_no_cards(client: TestClient) -> None:
    request = hook_request()
    request["prefetch"]["vitals"] = {"resourceType": "Bundle", "type": "searchset"}
    response = client.post(URL, json=request)
    assert response.status_code == 200
    assert response.json() == {"cards": []}


def test_hook_answers_well_under_500_ms(client: TestClient) -> None:
    request = hook_request()
    for _ in range(3):  # warm-up
        assert client.post(URL, json=request).status_code == 200
    times = []
    for _ in range(10):
        start = time.perf_counter()
        assert client.post(URL, json=request).status_code == 200
        times.append(time.perf_counter() - start)
    assert statistics.median(times) < 0.25


def test_a_searchset_without_an_entry_list_is_read_as_empty(client: TestClient) -> None:
    request = hook_request()
    request["prefetch"]["conditions"] = {"resourceType": "Bundle", "entry": 5}
    response = client.post("/cds-services/dxkit-differential", json=request)
    assert response.status_code == 200, response.text
