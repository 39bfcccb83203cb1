"""Error responses: one JSON shape, no echoed input, no stack traces, 500s with an id."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dxkit.cases.schema import Case
from dxkit.models.base import DiagnosisModel
from dxkit.service.app import build_detector, create_app
from dxkit.service.auth import Authenticator
from dxkit.service.errors import safe_field_errors
from dxkit.service.settings import ServiceSettings

SECRET = "Zebulon Quaxley 617-555-0199"


class FixedModel:
    """Always the same differential: these tests are about the errors around it."""

    def __init__(self) -> None:
        self.labels = ["Pneumonia", "Eczema", "Cystitis"]

    model_id = "fixed-1"

    def predict_proba(self, cases: Sequence[Case]) -> np.ndarray:
        return np.tile([0.7, 0.2, 0.1], (len(cases), 1))  # (n_cases, 3)


@pytest.fixture(scope="module")
def app(
    tmp_path_factory: pytest.TempPathFactory, make_authenticator: Callable[[], Authenticator]
) -> FastAPI:
    root = tmp_path_factory.mktemp("svc-errors")
    settings = ServiceSettings(database_url=f"sqlite:///{root / 'db.sqlite3'}")
    service = create_app(
        settings,
        model=cast(DiagnosisModel, FixedModel()),
        detector=build_detector(),
        authenticator=make_authenticator(),
    )

    @service.get("/boom")
    def boom() -> None:
        raise RuntimeError(f"failed on {SECRET}")

    return service


@pytest.fixture(scope="module")
def client(app: FastAPI, token_auth: Callable[..., Any]) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        test_client.auth = token_auth()
        yield test_client


def case_json(**extra: Any) -> dict[str, Any]:
    return {"case_id": "err-1", "age": 30, "sex": "male", "notes": "cough", **extra}


def test_unknown_field_is_422_without_its_value(client: TestClient) -> None:
    response = client.post("/v1/diagnose", json=case_json(nots=SECRET))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["what"] == "request validation failed"
    assert error["fields"] == [
        {
            "loc": ["body", "nots"],
            "type": "extra_forbidden",
            "msg": "Extra inputs are not permitted",
        }
    ]
    assert "Quaxley" not in response.text
    assert '"input"' not in response.text


def test_invalid_value_is_not_echoed(client: TestClient) -> None:
    response = client.post("/v1/diagnose", json=case_json(age=SECRET))
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["loc"] == ["body", "age"]
    assert "Quaxley" not in response.text


def test_malformed_json_is_a_json_422(client: TestClient) -> None:
    body = '{"case_id": "x", "notes": "' + SECRET + '"'  # no closing brace
    response = client.post(
        "/v1/diagnose", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["what"] == "malformed JSON"
    assert "Quaxley" not in response.text


def test_pipeline_input_error_has_expected_found_fix(client: TestClient) -> None:
    body = case_json(observations=[{"code": "8310-5", "value": 38.0, "unit": "furlong"}])
    response = client.post("/v1/diagnose", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    # worded with a server-made id: the client's case_id may hold an identifier
    assert error["what"].startswith("case 'case-") and "err-1" not in response.text
    assert error["expected"] and error["found"] and error["fix"]


def test_query_bounds_are_validated(client: TestClient) -> None:
    response = client.post("/v1/diagnose", json=case_json(), params={"top": 0})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["loc"] == ["query", "top"]


class SlowModel(FixedModel):
    def predict_proba(self, cases: Sequence[Case]) -> np.ndarray:
        time.sleep(1.0)
        return super().predict_proba(cases)


def test_slow_diagnosis_times_out_while_the_loop_stays_free(
    tmp_path: Path,
    make_authenticator: Callable[[], Authenticator],
    token_auth: Callable[..., Any],
) -> None:
    settings = ServiceSettings(database_url="sqlite://", request_timeout_s=0.2)
    app = create_app(
        settings,
        model=cast(DiagnosisModel, SlowModel()),
        detector=build_detector(),
        authenticator=make_authenticator(),
    )
    with TestClient(app) as test_client:
        test_client.auth = token_auth()
        start = time.monotonic()
        response = test_client.post("/v1/diagnose", json=case_json())
        waited = time.monotonic() - start
    assert response.status_code == 503
    assert response.json()["error"]["what"] == "diagnosis timed out"
    assert response.headers["retry-after"] == "1"
    assert waited < 0.9  # answered before the model finished: it ran off the event loop


def test_unknown_route_and_method_have_the_error_shape(client: TestClient) -> None:
    missing = client.get("/v1/nothing")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"what": "not found"}}
    wrong = client.get("/v1/diagnose")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["what"] == "method not allowed"


def test_unexpected_exception_is_500_with_an_id_and_no_trace(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="dxkit.service"):
        response = client.get("/boom")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["what"] == "internal error"
    assert re.fullmatch(r"[0-9a-f-]{36}", error["id"])
    assert set(error) == {"what", "id"}
    for leaked in ("Traceback", "RuntimeError", "Quaxley", "boom"):
        assert leaked not in response.text
    # The log holds the id, the route and where it failed, but not the message.
    assert error["id"] in caplog.text
    assert "GET /boom" in caplog.text
    assert "RuntimeError" in caplog.text
    assert "Quaxley" not in caplog.text


def test_safe_field_errors_drops_inputs_and_messages_that_quote_them() -> None:
    errors = [
        {"loc": ("body", "x"), "type": "value_error", "msg": f"bad {SECRET}", "input": SECRET},
        {"loc": ("body", "k" * 500), "type": "missing", "msg": "Field required", "input": {}},
    ]
    safe = safe_field_errors(errors)
    assert safe[0].msg == "value_error"
    assert len(str(safe[1].loc[1])) == 64
    assert "input" not in safe[0].model_dump()


def test_settings_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from dxkit.errors import InputError
    from dxkit.service.settings import load_settings

    monkeypatch.setenv("DXKIT_PORT", "80OO")
    with pytest.raises(InputError, match=r"found DXKIT_PORT \(Input should be a valid integer"):
        load_settings()
    monkeypatch.delenv("DXKIT_PORT")
    with pytest.raises(InputError, match="DXKIT_CORS_ORIGINS"):
        load_settings(cors_origins="*")


def test_default_database_is_a_sqlite_file_under_dxkit_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DXKIT_HOME", str(tmp_path))
    monkeypatch.setenv("DXKIT_CORS_ORIGINS", "https://a.example, https://b.example")
    settings = ServiceSettings()
    assert settings.database_url == f"sqlite:///{tmp_path.resolve() / 'service.sqlite3'}"
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.dev_mode is False
