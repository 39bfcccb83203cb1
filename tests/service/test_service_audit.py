"""The audit trail: one entry per request, written even on failure, and the canary test."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, cast

import numpy as np
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, text

from dxkit.cases.schema import Case
from dxkit.deid.engine import Detector
from dxkit.models.base import DiagnosisModel
from dxkit.service.app import create_app
from dxkit.service.audit import set_actor
from dxkit.service.auth import Authenticator
from dxkit.service.settings import ServiceSettings
from dxkit.service.storage import pseudonym

SECRET = "audit-test-secret-0123456789"
PATIENT = "MRN-CANARY-4242"
CANARIES = ("Zebulon", "Quaxley", "617-555-0199", "6175550199", "555-0199", PATIENT)
CANARY_NOTE = "Patient Zebulon Quaxley, phone 617-555-0199, reports fever and cough."


def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'db.sqlite3'}"


@pytest.fixture()
def auth(make_authenticator: Callable[[str], Authenticator]) -> Authenticator:
    return make_authenticator(SECRET)


@pytest.fixture()
def clinician(token_auth: Callable[..., Any]) -> Any:
    return token_auth(patient=PATIENT)


def make_app(tmp_path: Path, model: Any, detector: Detector, auth: Authenticator) -> FastAPI:
    settings = ServiceSettings(database_url=db_url(tmp_path), patient_key_secret=SECRET)
    return create_app(
        settings, model=cast(DiagnosisModel, model), detector=detector, authenticator=auth
    )


@pytest.fixture()
def client(
    tmp_path: Path,
    tiny_model: DiagnosisModel,
    detector: Detector,
    auth: Authenticator,
    clinician: Any,
) -> Iterator[TestClient]:
    with TestClient(make_app(tmp_path, tiny_model, detector, auth)) as test_client:
        test_client.auth = clinician
        yield test_client


def case_json(notes: str = "fever and cough for three days") -> dict[str, Any]:
    return {"case_id": "a-1", "patient_id": PATIENT, "age": 40, "sex": "male", "notes": notes}


def audit_rows(tmp_path: Path) -> list[dict[str, Any]]:
    engine = create_engine(db_url(tmp_path))
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM audit_log ORDER BY id")).mappings().all()
    engine.dispose()
    return [dict(row) for row in rows]


def test_each_v1_request_is_audited_with_template_patient_and_request_id(
    client: TestClient, tmp_path: Path
) -> None:
    diagnosed = client.post("/v1/diagnose", json=case_json(), headers={"X-Request-ID": "mine"})
    case_id = diagnosed.json()["stored"]["case_id"]
    read = client.get(f"/v1/cases/{case_id}")
    health = client.get("/healthz")
    rows = audit_rows(tmp_path)
    assert [(r["method"], r["endpoint"], r["status_code"]) for r in rows] == [
        ("POST", "/v1/diagnose", 200),
        ("GET", "/v1/cases/{case_id}", 200),
    ]
    key = pseudonym(PATIENT, SECRET)
    assert [r["patient_key"] for r in rows] == [key, key]
    assert [r["request_id"] for r in rows] == [
        diagnosed.headers["x-request-id"],
        read.headers["x-request-id"],
    ]
    assert diagnosed.headers["x-request-id"] != "mine"  # a client's id could hold anything
    assert re.fullmatch(r"[0-9a-f]{32}", health.headers["x-request-id"])
    assert all(r["actor_key"] == pseudonym("dr-test", SECRET) and r["at"] for r in rows)
    assert all(r["scopes"] == "clinician" for r in rows)


class BrokenModel:
    labels: ClassVar[list[str]] = ["pneumonia", "cystitis", "eczema"]

    def predict_proba(self, cases: Sequence[Case]) -> np.ndarray:
        raise RuntimeError(f"crashed on {cases[0].notes}")


def test_a_rolled_back_request_is_still_audited(
    tmp_path: Path, detector: Detector, auth: Authenticator, clinician: Any
) -> None:
    with TestClient(make_app(tmp_path, BrokenModel(), detector, auth)) as test_client:
        test_client.auth = clinician
        response = test_client.post("/v1/diagnose", json=case_json())
        invalid = test_client.post("/v1/diagnose", json={"case_id": "x", "bogus": 1})
    assert (response.status_code, invalid.status_code) == (500, 422)
    rows = audit_rows(tmp_path)
    assert [r["status_code"] for r in rows] == [500, 422]
    assert rows[0]["patient_key"] == pseudonym(PATIENT, SECRET)


def test_the_auth_hook_records_actor_and_scopes(
    tmp_path: Path, tiny_model: DiagnosisModel, detector: Detector, auth: Authenticator
) -> None:
    app = make_app(tmp_path, tiny_model, detector, auth)

    @app.get("/v1/whoami")
    async def whoami(request: Request) -> dict[str, str]:
        set_actor(request, "dr-who@example.org", ["clinician", "Not A Scope"], "patient-9")
        return {}

    with TestClient(app) as test_client:
        assert test_client.get("/v1/whoami").status_code == 200
    [row] = audit_rows(tmp_path)
    assert row["actor_key"] == pseudonym("dr-who@example.org", SECRET)
    assert row["patient_key"] == pseudonym("patient-9", SECRET)
    assert row["scopes"] == "clinician"


def test_no_answer_leaves_unaudited(client: TestClient, tmp_path: Path) -> None:
    engine = create_engine(db_url(tmp_path))
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE audit_log"))
    engine.dispose()
    response = client.post("/v1/diagnose", json=case_json())
    assert response.status_code == 503
    assert response.json()["error"]["what"] == "audit log unavailable"
    assert "conditions" not in response.text
    assert client.get("/healthz").status_code == 200  # not audited: still answers
    # the entry is written in the transaction that stores the case: neither landed
    engine = create_engine(db_url(tmp_path))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM cases")).scalar() == 0
        assert connection.execute(text("SELECT count(*) FROM predictions")).scalar() == 0
    engine.dispose()


def test_feedback_is_audited_once_with_its_patient(client: TestClient, tmp_path: Path) -> None:
    stored = client.post("/v1/diagnose", json=case_json()).json()["stored"]
    given = client.post(
        "/v1/feedback", json={"prediction_id": stored["prediction_id"], "verdict": "confirmed"}
    )
    assert given.status_code == 201
    rows = audit_rows(tmp_path)
    assert [(r["endpoint"], r["status_code"]) for r in rows] == [
        ("/v1/diagnose", 200),
        ("/v1/feedback", 201),
    ]
    assert rows[1]["patient_key"] == pseudonym(PATIENT, SECRET)
    assert rows[1]["request_id"] == given.headers["x-request-id"]


def all_text_in_database(tmp_path: Path) -> str:
    """Every value of every column of every table, as text."""
    engine = create_engine(db_url(tmp_path))
    parts = []
    with engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                parts.extend(str(value) for value in row)
    engine.dispose()
    return "\n".join(parts)


def test_canary_identifiers_appear_nowhere(
    tmp_path: Path,
    tiny_model: DiagnosisModel,
    detector: Detector,
    auth: Authenticator,
    clinician: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    responses = []
    app = make_app(tmp_path, tiny_model, detector, auth)
    with caplog.at_level(logging.DEBUG), TestClient(app) as c:
        c.auth = clinician
        diagnosed = c.post("/v1/diagnose", json=case_json(CANARY_NOTE))
        stored = diagnosed.json()["stored"]
        feedback = {"prediction_id": stored["prediction_id"], "verdict": "confirmed"}
        responses += [
            diagnosed,
            c.post("/v1/feedback", json=feedback),
            c.get(f"/v1/cases/{stored['case_id']}"),
            c.post("/v1/diagnose", json=case_json(CANARY_NOTE) | {"sex": 7}),  # 422
            c.post("/v1/feedback", json=feedback | {"corrected_condition": CANARY_NOTE}),
        ]
    broken = make_app(tmp_path / "b", BrokenModel(), detector, auth)
    with caplog.at_level(logging.DEBUG), TestClient(broken) as c:
        c.auth = clinician
        responses.append(c.post("/v1/diagnose", json=case_json(CANARY_NOTE)))  # 500
    assert [r.status_code for r in responses] == [200, 201, 200, 422, 422, 500]
    assert "[NAME]" in responses[2].json()["case"]["notes"]  # the de-identified note is kept
    database = all_text_in_database(tmp_path) + all_text_in_database(tmp_path / "b")
    assert "[PHONE]" in database
    logs = "\n".join(
        f"{record.name} {record.getMessage()} {record.exc_text or ''}" for record in caplog.records
    )
    for response in responses:
        seen = response.text + str(dict(response.headers))
        for canary in CANARIES:
            assert canary not in seen
    for canary in CANARIES:
        assert canary not in logs
        assert canary not in caplog.text
        assert canary not in database
