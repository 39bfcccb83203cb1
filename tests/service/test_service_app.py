"""The service app: diagnosis, de-identification first, health, CORS, a real uvicorn run."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import httpx
import numpy as np
import pytest
import uvicorn
from fastapi.testclient import TestClient

from dxkit.cases.schema import Case
from dxkit.deid.engine import Detector
from dxkit.models.base import DiagnosisModel
from dxkit.service.app import create_app
from dxkit.service.auth import Authenticator
from dxkit.service.settings import ServiceSettings

CANARY_NAME = "Zebulon Quaxley"
CANARY_PHONE = "617-555-0199"


SECRET = "a-test-secret-of-at-least-16-bytes"


def settings(tmp_path: Path, **overrides: Any) -> ServiceSettings:
    overrides.setdefault("patient_key_secret", SECRET)
    return ServiceSettings(database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}", **overrides)


@pytest.fixture()
def auth(make_authenticator: Callable[[str], Authenticator]) -> Authenticator:
    return make_authenticator(SECRET)


@pytest.fixture()
def clinician(token_auth: Callable[..., Any]) -> Any:
    return token_auth(patient="p-1")


@pytest.fixture()
def client(
    tmp_path: Path,
    tiny_model: DiagnosisModel,
    detector: Detector,
    auth: Authenticator,
    clinician: Any,
) -> Iterator[TestClient]:
    app = create_app(settings(tmp_path), model=tiny_model, detector=detector, authenticator=auth)
    with TestClient(app) as test_client:
        test_client.auth = clinician
        yield test_client


def case_json(notes: str = "fever and cough for three days, short of breath") -> dict[str, Any]:
    return {
        "case_id": "svc-1",
        "patient_id": "p-1",
        "age": 54,
        "sex": "female",
        "notes": notes,
        "observations": [{"code": "8310-5", "value": 38.9, "unit": "Cel"}],
    }


def test_diagnose_answers_a_ranked_differential(client: TestClient) -> None:
    response = client.post("/v1/diagnose", json=case_json(), params={"top": 3})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["case_id"] == "svc-1"
    assert len(answer["conditions"]) == 3
    probabilities = [c["probability"] for c in answer["conditions"]]
    assert probabilities == sorted(probabilities, reverse=True)
    assert 0.99 <= sum(probabilities) <= 1.0 + 1e-6  # three labels: all of the mass
    assert answer["conditions"][0]["label"].lower() == "pneumonia"
    assert "tfidf" in answer["model"]["kind"].lower()
    assert answer["model"]["model_id"] not in ("", "unsaved")
    assert answer["triage"]["level"]
    assert "Decision support only" in answer["disclaimer"]
    # The answer keeps the differential's shape and adds where it was stored.
    stored = answer["stored"]
    assert response.headers["location"] == f"/v1/cases/{stored['case_id']}"
    assert stored["prediction_id"] != stored["case_id"]


def test_diagnose_uses_the_service_default_top(
    tmp_path: Path,
    tiny_model: DiagnosisModel,
    detector: Detector,
    auth: Authenticator,
    clinician: Any,
) -> None:
    app = create_app(
        settings(tmp_path, top=1), model=tiny_model, detector=detector, authenticator=auth
    )
    with TestClient(app) as test_client:
        test_client.auth = clinician
        answer = test_client.post("/v1/diagnose", json=case_json()).json()
    assert len(answer["conditions"]) == 1
    assert answer["conditions"][0]["probability"] <= 1.0


class SpyModel:
    """Delegates to a real model and keeps the notes it was shown."""

    def __init__(self, model: DiagnosisModel) -> None:
        self.model = model
        self.labels = model.labels
        self.seen: list[str] = []

    def predict_proba(self, cases: Sequence[Case]) -> np.ndarray:
        self.seen.extend(case.notes for case in cases)
        return self.model.predict_proba(cases)


def test_canary_identifiers_are_removed_before_diagnosis(
    tmp_path: Path,
    tiny_model: DiagnosisModel,
    detector: Detector,
    auth: Authenticator,
    clinician: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    spy = SpyModel(tiny_model)
    app = create_app(
        settings(tmp_path), model=cast(DiagnosisModel, spy), detector=detector, authenticator=auth
    )
    notes = f"Patient {CANARY_NAME} reports fever and cough, call back on {CANARY_PHONE}."
    with caplog.at_level(logging.DEBUG), TestClient(app) as test_client:
        test_client.auth = clinician
        response = test_client.post("/v1/diagnose", json=case_json(notes))
    assert response.status_code == 200
    assert len(spy.seen) == 1
    assert "[NAME]" in spy.seen[0] and "[PHONE]" in spy.seen[0]
    for canary in (CANARY_NAME, "Zebulon", "Quaxley", CANARY_PHONE):
        assert canary not in spy.seen[0]
        assert canary not in response.text
        assert canary not in caplog.text
    assert response.json()["conditions"][0]["label"].lower() == "pneumonia"


def test_unknown_loinc_code_is_a_422_with_expected_found_fix(client: TestClient) -> None:
    body = case_json()
    body["observations"] = [{"code": "99999-9", "value": 1.0, "unit": "1"}]
    response = client.post("/v1/diagnose", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    # worded with a server-made id: the client's case_id may hold an identifier
    assert error["what"].startswith("case 'case-") and "svc-1" not in response.text
    assert {"expected", "found", "fix"} <= error.keys()


def test_a_confidence_needs_a_conformal_model_and_a_level_in_range(client: TestClient) -> None:
    case = {"case_id": "c1", "notes": "fever and cough"}
    refused = client.post("/v1/diagnose?confidence=0.95", json=case)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["expected"] == "a model calibrated with conformal prediction sets"
    assert "leave the confidence out" in error["fix"]
    for level in ("0.5", "1", "abc"):
        assert client.post(f"/v1/diagnose?confidence={level}", json=case).status_code == 422


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["model_kind"] == answer_kind(client)


def test_not_ready_when_the_model_fails_to_load(
    tmp_path: Path, detector: Detector, auth: Authenticator, clinician: Any
) -> None:
    app = create_app(
        settings(tmp_path, model_dir=tmp_path / "missing"), detector=detector, authenticator=auth
    )
    with TestClient(app) as test_client:
        test_client.auth = clinician
        deadline = time.monotonic() + 10
        while test_client.get("/readyz").json()["status"] == "loading":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        ready = test_client.get("/readyz")
        assert test_client.get("/healthz").status_code == 200
        diagnosed = test_client.post("/v1/diagnose", json=case_json())
    assert ready.status_code == 503
    assert ready.json()["status"] == "failed"
    assert diagnosed.status_code == 503
    assert diagnosed.json()["error"]["what"] == "model failed"


def test_cors_is_closed_by_default(client: TestClient) -> None:
    origin = {"Origin": "https://evil.example"}
    assert "access-control-allow-origin" not in client.get("/healthz", headers=origin).headers
    preflight = client.options(
        "/v1/diagnose",
        headers={**origin, "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_allows_only_listed_origins(
    tmp_path: Path, tiny_model: DiagnosisModel, detector: Detector, auth: Authenticator
) -> None:
    app = create_app(
        settings(tmp_path, cors_origins="https://ehr.example"),
        model=tiny_model,
        detector=detector,
        authenticator=auth,
    )
    with TestClient(app) as test_client:
        allowed = test_client.get("/healthz", headers={"Origin": "https://ehr.example"})
        other = test_client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://ehr.example"
    assert "access-control-allow-origin" not in other.headers


def test_openapi_documents_the_case_body_and_error_shape(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/v1/diagnose"]["post"]
    body = operation["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"].endswith("/Case")
    assert "chest pain" in body["examples"]
    assert operation["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorResponse"
    )
    assert client.get("/docs").status_code == 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_real_uvicorn_server_over_http(
    tmp_path: Path,
    tiny_model: DiagnosisModel,
    detector: Detector,
    auth: Authenticator,
    clinician: Any,
) -> None:
    app = create_app(settings(tmp_path), model=tiny_model, detector=detector, authenticator=auth)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10, auth=clinician) as http:
            assert http.get("/healthz").json()["status"] == "ok"
            response = http.post("/v1/diagnose", json=case_json())
            anonymous = httpx.post(f"{base}/v1/diagnose", json=case_json(), timeout=10)
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        assert response.status_code == 200
        assert response.json()["conditions"][0]["label"].lower() == "pneumonia"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert not thread.is_alive()


def answer_kind(client: TestClient) -> str:
    kind: str = client.post("/v1/diagnose", json=case_json()).json()["model"]["kind"]
    return kind


def test_serve_command_refuses_a_missing_model_directory(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from dxkit.cli_serve import register
    from dxkit.errors import DataNotFoundError

    cli = typer.Typer()
    cli.command("noop")(lambda: None)  # typer runs a lone command without its name
    register(cli)
    result = CliRunner().invoke(cli, ["serve", "--model", str(tmp_path / "none")])
    assert isinstance(result.exception, DataNotFoundError)
    assert "leave --model out" in result.exception.fix
