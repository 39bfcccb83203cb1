"""Micro-batching in the service: concurrent cases share model calls, answers unchanged."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from fastapi.testclient import TestClient

from dxkit.cases.schema import Case
from dxkit.deid.engine import Detector
from dxkit.models.base import DiagnosisModel
from dxkit.service.app import create_app
from dxkit.service.auth import Authenticator
from dxkit.service.settings import ServiceSettings

SECRET = "batching-test-secret-0123456789"
NOTES = [
    "fever and cough for three days",
    "burning on urination",
    "itchy rash on both arms",
    "crushing chest pain",
    "headache and stiff neck",
    "diarrhoea and vomiting",
]


class CountingModel:
    """Wraps a model and records how many cases each predict_proba call received."""

    def __init__(self, inner: DiagnosisModel) -> None:
        self.inner = inner
        self.labels = list(inner.labels)
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def predict_proba(self, cases: Sequence[Case]) -> np.ndarray:
        with self.lock:
            self.calls.append(len(cases))
        return np.asarray(self.inner.predict_proba(cases))


def answers(
    tmp_path: Path,
    model: CountingModel,
    detector: Detector,
    auth: Authenticator,
    clinician: Any,
    window_ms: float,
) -> list[dict[str, Any]]:
    settings = ServiceSettings(
        database_url=f"sqlite:///{tmp_path / f'db-{window_ms}.sqlite3'}",
        patient_key_secret=SECRET,
        batch_window_ms=window_ms,
        worker_threads=8,
    )
    app = create_app(
        settings, model=cast(DiagnosisModel, model), detector=detector, authenticator=auth
    )
    with TestClient(app) as client:
        client.auth = clinician

        def ask(notes: str) -> dict[str, Any]:
            body = {"case_id": "b", "patient_id": "p-1", "age": 40, "notes": notes}
            response = client.post("/v1/diagnose", json=body)
            assert response.status_code == 200, response.text
            return cast(dict[str, Any], response.json())

        with ThreadPoolExecutor(len(NOTES)) as pool:
            return list(pool.map(ask, NOTES))


@pytest.fixture()
def clinician(token_auth: Callable[..., Any]) -> Any:
    return token_auth(patient="p-1")


def test_concurrent_cases_share_model_calls_with_the_same_answers(
    tmp_path: Path,
    tiny_model: DiagnosisModel,
    detector: Detector,
    make_authenticator: Callable[[str], Authenticator],
    clinician: Any,
) -> None:
    auth = make_authenticator(SECRET)
    batched_model, plain_model = CountingModel(tiny_model), CountingModel(tiny_model)
    batched = answers(tmp_path, batched_model, detector, auth, clinician, window_ms=50)
    plain = answers(tmp_path, plain_model, detector, auth, clinician, window_ms=0)
    assert plain_model.calls == [1] * len(NOTES)  # off: one call per case
    assert sum(batched_model.calls) == len(NOTES)
    assert max(batched_model.calls) > 1  # on: cases of concurrent requests grouped
    for one, other in zip(batched, plain, strict=True):
        assert [c["name"] for c in one["conditions"]] == [c["name"] for c in other["conditions"]]
        assert [c["probability"] for c in one["conditions"]] == pytest.approx(
            [c["probability"] for c in other["conditions"]], abs=1e-9
        )
