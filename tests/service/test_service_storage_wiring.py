"""Diagnoses are stored in one transaction, read back, and judged by clinicians."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, cast

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from dxkit.cases.schema import Case
from dxkit.deid.engine import Detector
from dxkit.errors import InputError
from dxkit.models.base import DiagnosisModel
from dxkit.service import routes_diagnose
from dxkit.service.app import create_app
from dxkit.service.auth import Authenticator
from dxkit.service.settings import ServiceSettings, load_settings
from dxkit.service.storage import pseudonym

SECRET = "wiring-test-secret-0123456789"


def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'db.sqlite3'}"


@pytest.fixture()
def auth(make_authenticator: Callable[[str], Authenticator]) -> Authenticator:
    return make_authenticator(SECRET)


@pytest.fixture()
def clinician(token_auth: Callable[..., Any]) -> Any:
    return token_auth(patient="mrn-000123")


@pytest.fixture()
def client(
    tmp_path: Path,
    tiny_model: DiagnosisModel,
    detector: Detector,
    auth: Authenticator,
    clinician: Any,
) -> Iterator[TestClient]:
    settings = ServiceSettings(database_url=db_url(tmp_path), patient_key_secret=SECRET)
    app = create_app(settings, model=tiny_model, detector=detector, authenticator=auth)
    with TestClient(app) as test_client:
        test_client.auth = clinician
        yield test_client


def case_json(**overrides: Any) -> dict[str, Any]:
    return {
        "case_id": "w-1",
        "patient_id": "mrn-000123",
        "age": 95,
        "sex": "female",
        "notes": "fever and cough for three days, short of breath",
        "observations": [{"code": "8310-5", "value": 38.9, "unit": "Cel"}],
    } | overrides


def counts(tmp_path: Path) -> dict[str, int]:
    engine = create_engine(db_url(tmp_path))
    with engine.connect() as connection:
        found = {
            table: int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
            for table in ("cases", "predictions", "feedback", "audit_log")
        }
    engine.dispose()
    return found


def test_diagnosis_is_stored_and_read_back_de_identified(
    client: TestClient, tmp_path: Path
) -> None:
    answer = client.post("/v1/diagnose", json=case_json()).json()
    stored = client.get(f"/v1/cases/{answer['stored']['case_id']}")
    assert stored.status_code == 200
    body = stored.json()
    assert body["id"] == answer["stored"]["case_id"]
    assert body["case"]["patient_id"] is None
    assert body["case"]["age"] == "90+"
    assert body["case"]["deidentified"] is True
    [prediction] = body["predictions"]
    assert prediction["id"] == answer["stored"]["prediction_id"]
    assert prediction["model_id"] == answer["model"]["model_id"]
    assert prediction["top_condition"] == answer["conditions"][0]["name"]
    assert "mrn-000123" not in stored.text
    assert counts(tmp_path) == {"cases": 1, "predictions": 1, "feedback": 0, "audit_log": 2}


def test_a_client_cannot_skip_de_identification(client: TestClient) -> None:
    notes = "Patient Zebulon Quaxley, phone 617-555-0199, reports fever and cough."
    answer = client.post("/v1/diagnose", json=case_json(notes=notes, deidentified=True)).json()
    case = client.get(f"/v1/cases/{answer['stored']['case_id']}").json()["case"]
    assert "[NAME]" in case["notes"] and "Quaxley" not in case["notes"]


def test_unknown_or_malformed_case_ids(client: TestClient) -> None:
    missing = client.get("/v1/cases/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"what": "case not found"}}
    assert client.get("/v1/cases/not-an-id").status_code == 422


def test_feedback_is_stored_and_counted_as_live_accuracy(
    client: TestClient, tmp_path: Path, token_auth: Callable[..., Any]
) -> None:
    answer = client.post("/v1/diagnose", json=case_json()).json()
    prediction_id = answer["stored"]["prediction_id"]
    top = answer["conditions"][0]["name"]
    confirmed = client.post(
        "/v1/feedback", json={"prediction_id": prediction_id, "verdict": "confirmed"}
    )
    assert confirmed.status_code == 201
    assert len(confirmed.json()["feedback_id"]) == 36
    other = {"prediction_id": prediction_id, "verdict": "other", "corrected_condition": "j45.9"}
    assert client.post("/v1/feedback", json=other).status_code == 201
    rejected = other | {"verdict": "rejected", "corrected_condition": "ECZEMA"}
    assert client.post("/v1/feedback", json=rejected).status_code == 201
    metrics = client.get("/metrics", auth=token_auth(["admin"], subject="ops")).text
    assert f'dxkit_feedback_verdicts{{condition="{top}",verdict="confirmed"}} 1.0' in metrics
    assert f'dxkit_feedback_verdicts{{condition="{top}",verdict="rejected"}} 2.0' in metrics
    assert f'dxkit_live_accuracy{{condition="{top}"}} 0.3333' in metrics
    assert counts(tmp_path)["feedback"] == 3
    engine = create_engine(db_url(tmp_path))
    with engine.connect() as connection:
        corrected = connection.execute(text("SELECT corrected_condition FROM feedback"))
        assert sorted(str(row[0]) for row in corrected) == ["Eczema", "J45.9", "None"]
        clinicians = connection.execute(text("SELECT DISTINCT clinician_key FROM feedback"))
        assert [row[0] for row in clinicians] == [pseudonym("dr-test", SECRET)]  # the caller
    engine.dispose()


@pytest.mark.parametrize(
    ("body", "status", "what"),
    [
        ({"verdict": "confirmed"}, 404, "prediction not found"),
        ({"verdict": "maybe"}, 422, "request validation failed"),
        ({"verdict": "other"}, 422, "feedback corrected_condition"),
        (
            {"verdict": "other", "corrected_condition": "call 555-0100"},
            422,
            "feedback corrected_condition",
        ),
        ({"verdict": "rejected", "condition": "Not Listed"}, 422, "feedback condition"),
        ({"verdict": "confirmed", "note": "free text"}, 422, "request validation failed"),
    ],
)
def test_bad_feedback_is_refused_and_stores_nothing(
    client: TestClient, tmp_path: Path, body: dict[str, Any], status: int, what: str
) -> None:
    answer = client.post("/v1/diagnose", json=case_json()).json()
    prediction_id = answer["stored"]["prediction_id"]
    if status == 404:
        prediction_id = "00000000-0000-4000-8000-000000000000"
    response = client.post("/v1/feedback", json={"prediction_id": prediction_id} | body)
    assert response.status_code == status
    assert response.json()["error"]["what"] == what
    assert counts(tmp_path)["feedback"] == 0


class BrokenModel:
    labels: ClassVar[list[str]] = ["pneumonia", "cystitis", "eczema"]

    def predict_proba(self, cases: Sequence[Case]) -> np.ndarray:
        raise RuntimeError("model crashed")


def test_a_failing_model_leaves_no_rows(
    tmp_path: Path, detector: Detector, auth: Authenticator, clinician: Any
) -> None:
    settings = ServiceSettings(database_url=db_url(tmp_path), patient_key_secret=SECRET)
    app = create_app(
        settings, model=cast(DiagnosisModel, BrokenModel()), detector=detector, authenticator=auth
    )
    with TestClient(app) as test_client:
        test_client.auth = clinician
        response = test_client.post("/v1/diagnose", json=case_json())
    assert response.status_code == 500
    assert counts(tmp_path) == {"cases": 0, "predictions": 0, "feedback": 0, "audit_log": 1}


def test_a_failing_database_write_leaves_no_rows(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = routes_diagnose.store_case_and_prediction

    def store_then_fail(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)  # both rows are flushed into the transaction ...
        raise RuntimeError("disk full")  # ... which must then roll back

    monkeypatch.setattr(routes_diagnose, "store_case_and_prediction", store_then_fail)
    response = client.post("/v1/diagnose", json=case_json())
    assert response.status_code == 500
    assert counts(tmp_path)["cases"] == counts(tmp_path)["predictions"] == 0


def wait_settled(client: TestClient) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while (ready := client.get("/readyz").json())["status"] == "loading":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return cast(dict[str, Any], ready)


def test_no_secret_outside_dev_mode_never_goes_ready(
    tmp_path: Path, detector: Detector, dev_key: Any, clinician: Any
) -> None:
    # Configured like a deployment (keys from files), but without the pseudonym secret:
    # the app is still built, so /healthz answers and /readyz can say what is missing.
    pem = tmp_path / "idp.pem"
    pem.write_text(dev_key.public_pem)
    settings = ServiceSettings(
        database_url=db_url(tmp_path),
        model_dir=tmp_path / "m",
        jwt_public_key_file=pem,
        jwt_issuer="https://idp.test.example",
    )
    with TestClient(create_app(settings, detector=detector)) as test_client:
        test_client.auth = clinician
        assert test_client.get("/healthz").status_code == 200
        ready = wait_settled(test_client)
        feedback = test_client.post(
            "/v1/feedback",
            json={"prediction_id": "00000000-0000-4000-8000-000000000000", "verdict": "confirmed"},
        )
    assert ready["status"] == "failed"
    assert "DXKIT_PATIENT_KEY_SECRET" in ready["error"]
    assert feedback.status_code == 503


def test_dev_mode_makes_up_a_secret_with_a_warning(
    tmp_path: Path, detector: Detector, caplog: pytest.LogCaptureFixture
) -> None:
    settings = ServiceSettings(database_url=db_url(tmp_path), dev_mode=True)
    create_app(settings, detector=detector)  # and a throwaway signing key (printed)
    assert "using a random one for this run" in caplog.text


def test_a_short_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DXKIT_PATIENT_KEY_SECRET", "short")
    with pytest.raises(InputError, match=r"DXKIT_PATIENT_KEY_SECRET .*at least 16 bytes"):
        load_settings()
    monkeypatch.setenv("DXKIT_PATIENT_KEY_SECRET", SECRET)
    secret = load_settings().patient_key_secret
    assert secret is not None and secret.get_secret_value() == SECRET
    assert SECRET not in repr(load_settings())
