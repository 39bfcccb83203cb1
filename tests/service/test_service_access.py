"""Authentication enforced on the real app: 401, 403, patient context, 429, audit rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from dxkit.cases.fhir import case_to_fhir_bundle
from dxkit.cases.schema import Case, Observation
from dxkit.deid.engine import Detector
from dxkit.models.base import DiagnosisModel
from dxkit.service.app import create_app
from dxkit.service.auth import Authenticator
from dxkit.service.settings import ServiceSettings
from dxkit.service.storage import pseudonym

SECRET = "access-test-secret-0123456789"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
FHIR_JSON = "application/fhir+json"
PROTECTED = [
    ("POST", "/v1/diagnose"),
    ("POST", "/v1/diagnose/fhir"),
    ("POST", "/v1/feedback"),
    ("GET", f"/v1/cases/{UNKNOWN_ID}"),
    ("GET", "/cds-services"),
    ("POST", "/cds-services/dxkit-differential"),
    ("GET", "/metrics"),
    ("GET", "/v1/cases"),
    ("GET", "/v1/dashboard"),
    ("GET", "/v1/observations/catalogue"),
    ("POST", "/v1/session"),
]


class FixedModel:
    """The same differential every time: these tests are about who may ask."""

    labels = ["Pneumonia", "Eczema", "Cystitis"]  # noqa: RUF012
    model_id = "fixed-1"

    def predict_proba(self, cases: Sequence[Case]) -> np.ndarray:
        return np.tile([0.7, 0.2, 0.1], (len(cases), 1))


def make_app(tmp_path: Path, detector: Detector, auth: Authenticator, **overrides: Any) -> FastAPI:
    settings = ServiceSettings(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}", patient_key_secret=SECRET, **overrides
    )
    model = cast(DiagnosisModel, FixedModel())
    return create_app(settings, model=model, detector=detector, authenticator=auth)


@pytest.fixture()
def client(
    tmp_path: Path, detector: Detector, make_authenticator: Callable[[str], Authenticator]
) -> Iterator[TestClient]:
    with TestClient(make_app(tmp_path, detector, make_authenticator(SECRET))) as test_client:
        yield test_client


def case_json(patient: str | None = "p-1") -> dict[str, Any]:
    return {"case_id": "acc-1", "patient_id": patient, "age": 40, "notes": "fever and cough"}


def audit_rows(tmp_path: Path) -> list[dict[str, Any]]:
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM audit_log ORDER BY id")).mappings().all()
        cases = int(connection.execute(text("SELECT count(*) FROM cases")).scalar_one())
    engine.dispose()
    return [dict(row) | {"n_cases": cases} for row in rows]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_protected_route_needs_a_token(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, json={})
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith('Bearer realm="dxkit"')
    assert response.json()["error"]["what"] == "authentication required"


def test_probes_and_docs_stay_open(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    (scheme,) = schema["components"]["securitySchemes"].values()
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")  # the Authorize button
    assert schema["paths"]["/v1/diagnose"]["post"]["security"]
    assert "401" in schema["paths"]["/v1/cases/{case_id}"]["get"]["responses"]
    assert "security" not in schema["paths"]["/healthz"]["get"]


def test_scopes_are_enforced(client: TestClient, token_auth: Callable[..., Any]) -> None:
    nobody = client.post("/v1/diagnose", json=case_json(), auth=token_auth([], patient="p-1"))
    assert nobody.status_code == 403
    assert nobody.json()["error"]["what"] == "insufficient scope"
    clinician = token_auth(["clinician"], patient="p-1")
    assert client.get("/metrics", auth=clinician).status_code == 403
    assert client.get("/metrics", auth=token_auth(["admin"])).status_code == 200
    assert client.get("/cds-services", auth=clinician).status_code == 200


def test_clinicians_read_only_cases_of_patients_in_context(
    client: TestClient, token_auth: Callable[..., Any]
) -> None:
    mine = token_auth(patient="p-1")
    answer = client.post("/v1/diagnose", json=case_json(), auth=mine)
    assert answer.status_code == 200, answer.text
    url = f"/v1/cases/{answer.json()['stored']['case_id']}"
    assert client.get(url, auth=mine).status_code == 200
    other = client.get(url, auth=token_auth(patient="p-2", subject="dr-other"))
    assert other.status_code == 403
    assert other.json()["error"]["what"] == "patient not in context"
    assert client.get(url, auth=token_auth(["admin"], subject="auditor")).status_code == 200


def test_clinicians_submit_only_patients_in_context(
    client: TestClient, tmp_path: Path, token_auth: Callable[..., Any]
) -> None:
    other = token_auth(patient="p-2")
    refused = client.post("/v1/diagnose", json=case_json("p-1"), auth=other)
    assert refused.status_code == 403
    assert audit_rows(tmp_path)[-1]["n_cases"] == 0  # refused before anything was stored
    # A case naming no patient concerns nobody: it may be tried, but only admins read it.
    anonymous = client.post("/v1/diagnose", json=case_json(None), auth=other)
    assert anonymous.status_code == 200
    url = f"/v1/cases/{anonymous.json()['stored']['case_id']}"
    assert client.get(url, auth=other).status_code == 403
    assert client.get(url, auth=token_auth(["admin"])).status_code == 200


def test_feedback_needs_the_patient_and_is_attributed(
    client: TestClient, tmp_path: Path, token_auth: Callable[..., Any]
) -> None:
    answer = client.post("/v1/diagnose", json=case_json(), auth=token_auth(patient="p-1")).json()
    feedback = {"prediction_id": answer["stored"]["prediction_id"], "verdict": "confirmed"}
    stranger = token_auth(patient="p-2", subject="dr-stranger")
    assert client.post("/v1/feedback", json=feedback, auth=stranger).status_code == 403
    mine = token_auth(patient="p-1", subject="dr-mine")
    assert client.post("/v1/feedback", json=feedback, auth=mine).status_code == 201
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with engine.connect() as connection:
        keys = [row[0] for row in connection.execute(text("SELECT clinician_key FROM feedback"))]
    engine.dispose()
    assert keys == [pseudonym("dr-mine", SECRET)]


def test_fhir_and_cds_answer_only_for_patients_in_context(
    client: TestClient, token_auth: Callable[..., Any]
) -> None:
    case = Case(
        case_id="f-1",
        patient_id="p-1",
        age=54,
        notes="fever and cough",
        observations=[Observation(code="8310-5", value=38.9, unit="Cel")],
    )
    bundle = case_to_fhir_bundle(case)
    headers = {"Content-Type": FHIR_JSON}
    url = "/v1/diagnose/fhir"
    mine = client.post(url, json=bundle, headers=headers, auth=token_auth(patient="p-1"))
    assert mine.status_code == 200, mine.text
    refused = client.post(url, json=bundle, headers=headers, auth=token_auth(patient="p-2"))
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith(FHIR_JSON)
    assert refused.json()["issue"][0]["code"] == "forbidden"
    hook = {
        "hook": "patient-view",
        "hookInstance": "h-1",
        "context": {"userId": "Practitioner/7", "patientId": "p9"},
        "prefetch": {"patient": {"resourceType": "Patient", "id": "p9"}, "vitals": None},
    }
    cds = "/cds-services/dxkit-differential"
    assert client.post(cds, json=hook, auth=token_auth(patient="p-1")).status_code == 403
    assert client.post(cds, json=hook, auth=token_auth(patient="p9")).status_code == 412
    hook["prefetch"]["patient"]["id"] = "p-1"  # a context for p9 does not unlock p-1's data
    assert client.post(cds, json=hook, auth=token_auth(patient="p9")).status_code == 403


def test_429_after_the_burst_with_retry_after(
    tmp_path: Path,
    detector: Detector,
    make_authenticator: Callable[[str], Authenticator],
    token_auth: Callable[..., Any],
) -> None:
    app = make_app(
        tmp_path, detector, make_authenticator(SECRET), rate_limit_burst=2, rate_limit_per_minute=6
    )
    with TestClient(app) as test_client:
        test_client.auth = token_auth(patient="p-1")
        statuses = [test_client.get("/cds-services").status_code for _ in range(3)]
        limited = test_client.get("/cds-services")
        assert test_client.get("/healthz").status_code == 200  # probes are never limited
    assert statuses == [200, 200, 429]
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 10
    assert limited.json()["error"]["what"] == "rate limit exceeded"
    assert [row["status_code"] for row in audit_rows(tmp_path)] == [200, 200, 429, 429]


def test_refusals_are_audited_with_the_actor_when_known(
    client: TestClient, tmp_path: Path, token_auth: Callable[..., Any]
) -> None:
    client.get(f"/v1/cases/{UNKNOWN_ID}")  # no token: 401
    client.post("/v1/diagnose", json=case_json(), auth=token_auth(patient="p-2", subject="dr-x"))
    unauthenticated, forbidden = audit_rows(tmp_path)
    assert (unauthenticated["status_code"], unauthenticated["actor_key"]) == (401, None)
    assert unauthenticated["endpoint"] == "/v1/cases/{case_id}"
    assert forbidden["status_code"] == 403
    assert forbidden["actor_key"] == pseudonym("dr-x", SECRET)
    assert forbidden["scopes"] == "clinician"
    assert forbidden["patient_key"] == pseudonym("p-1", SECRET)  # the patient asked about
