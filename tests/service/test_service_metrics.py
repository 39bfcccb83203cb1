"""Prometheus metrics: requests by route template, latency, predictions, abstentions."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from dxkit.cases.schema import Case
from dxkit.knowledge.schema import Triage
from dxkit.models.base import DiagnosisModel
from dxkit.report.differential import Differential, ModelInfo, RankedCondition
from dxkit.service.app import build_detector, create_app
from dxkit.service.auth import Authenticator
from dxkit.service.metrics import ServiceMetrics
from dxkit.service.settings import ServiceSettings
from dxkit.triage.combine import TriageDecision


class FixedModel:
    """Always the same differential, Pneumonia first."""

    def __init__(self) -> None:
        self.labels = ["Pneumonia", "Eczema", "Cystitis"]

    def predict_proba(self, cases: Sequence[Case]) -> np.ndarray:
        return np.tile([0.7, 0.2, 0.1], (len(cases), 1))  # (n_cases, 3)


@pytest.fixture()
def client(
    tmp_path_factory: pytest.TempPathFactory,
    authenticator: Authenticator,
    token_auth: Callable[..., Any],
) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("svc-metrics")
    settings = ServiceSettings(database_url=f"sqlite:///{root / 'db.sqlite3'}", max_body_bytes=2048)
    app = create_app(
        settings,
        model=cast(DiagnosisModel, FixedModel()),
        detector=build_detector(),
        authenticator=authenticator,
    )
    with TestClient(app) as test_client:
        test_client.auth = token_auth(["admin"])  # admins may diagnose and read /metrics
        yield test_client


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_a_diagnosis_is_counted_by_route_and_top_condition(client: TestClient) -> None:
    case = {"case_id": "m-1", "notes": "fever and cough"}
    assert client.post("/v1/diagnose", json=case).status_code == 200
    found = samples(client)
    request = (
        "dxkit_http_requests_total",
        (("method", "POST"), ("route", "/v1/diagnose"), ("status", "200")),
    )
    assert found[request] == 1
    latency = ("dxkit_http_request_duration_seconds_count", (("route", "/v1/diagnose"),))
    assert found[latency] == 1
    assert found[("dxkit_predictions_total", (("condition", "Pneumonia"),))] == 1
    assert found[("dxkit_abstentions_total", ())] == 0


def test_errors_and_unknown_paths_are_counted_without_raw_paths(client: TestClient) -> None:
    client.post("/v1/diagnose", content=b"x" * 4096)  # 413
    client.get("/patients/12345/secret")  # 404, must not become a label
    found = samples(client)
    assert (
        found[
            (
                "dxkit_http_requests_total",
                (("method", "POST"), ("route", "unmatched"), ("status", "413")),
            )
        ]
        == 1
    )
    assert (
        found[
            (
                "dxkit_http_requests_total",
                (("method", "GET"), ("route", "unmatched"), ("status", "404")),
            )
        ]
        == 1
    )
    assert not any("12345" in value for _, labels in found for _, value in labels)
    assert not any(name == "dxkit_predictions_total" for name, _ in found), "nothing was predicted"


def test_each_app_has_its_own_registry() -> None:
    first, second = ServiceMetrics(), ServiceMetrics()
    first.observe_request("/healthz", "GET", 200, 0.01)
    assert b'dxkit_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in (
        first.render()
    )
    assert b"/healthz" not in second.render()


def test_abstentions_are_counted() -> None:
    metrics = ServiceMetrics()
    answer = Differential(
        case_id="a",
        conditions=[RankedCondition(name="Pneumonia", label="pneumonia", probability=0.4)],
        triage=TriageDecision(level=Triage.urgent, reason="test"),
        model=ModelInfo(kind="fixed", dxkit_version="0", n_labels=3),
        abstain=True,
    )
    metrics.observe_answers([answer, answer.model_copy(update={"abstain": False})])
    text = metrics.render().decode()
    assert 'dxkit_predictions_total{condition="pneumonia"} 2.0' in text
    assert "dxkit_abstentions_total 1.0" in text


def test_invented_methods_do_not_grow_the_metric_labels() -> None:
    from dxkit.service.metrics import ServiceMetrics

    metrics = ServiceMetrics()
    for index in range(5):
        metrics.observe_request("/healthz", f"FOO{index}", 405, 0.001)
    text = metrics.render().decode()
    assert "FOO" not in text and 'method="OTHER"' in text
