"""Property-based fuzzing of the service's OpenAPI schema against a real uvicorn server.

Why over HTTP and not through the ASGI test client: the body-size limit, the catch-all
error middleware, content types and ``Content-Length`` are only what a client sees when
a real server frames the answer, and an EHR talks to the real server.

Every operation in ``/openapi.json`` is exercised with generated requests (examples,
coverage and fuzzing phases, seeded so a failure reproduces) and each answer must be
no 5xx, a documented status code, a documented content type, and a body and headers
matching the documented schema. Each request carries a fresh bearer token (tokens are
single-use) with both scopes, so generated data reaches the routes instead of stopping
at 401; the rate limit is raised because hundreds of requests from one caller are the
point here, not abuse.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dxkit.cases.synthetic import CohortConfig, CohortGenerator
from dxkit.knowledge.loader import KnowledgeBase
from dxkit.models.base import DiagnosisModel, load_model
from dxkit.models.tfidf import TfidfConfig, TfidfModel
from dxkit.service.app import build_detector, create_app
from dxkit.service.auth import Authenticator
from dxkit.service.settings import ServiceSettings

SECRET = "fuzz-tests-pseudonym-secret-0001"
PATIENTS = ("p-1", "patient-1", "example-patient")  # ids the schema's examples use
SEED = 20240611
MAX_EXAMPLES = 20  # per operation, fuzzing phase; the examples/coverage phases add a few

UNDECODABLE = b'{"notes": "\xff"}'  # not UTF-8: FastAPI's body parser gives up


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]

schema = schemathesis.pytest.from_fixture("fuzz_schema")


@pytest.fixture(scope="module")
def fuzz_model(tiny_kb: KnowledgeBase, tmp_path_factory: pytest.TempPathFactory) -> DiagnosisModel:
    """A tiny saved-and-reloaded model: the routes run their real code at test speed."""
    cohort = CohortGenerator(CohortConfig(n=90, seed=0), tiny_kb).generate()
    model = TfidfModel(TfidfConfig()).fit([lc.case for lc in cohort], [lc.label for lc in cohort])
    directory = tmp_path_factory.mktemp("fuzz-model") / "model"
    model.save(directory)
    return load_model(directory)


@pytest.fixture(scope="module")
def fuzz_url(
    fuzz_model: DiagnosisModel,
    make_authenticator: Callable[[str], Authenticator],
    live_server: Callable[[Any], str],
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """The base URL of the app under uvicorn, with auth on and the rate limit out of reach."""
    database = Path(tmp_path_factory.mktemp("fuzz-db")) / "db.sqlite3"
    settings = ServiceSettings(
        database_url=f"sqlite:///{database}",
        patient_key_secret=SECRET,
        rate_limit_per_minute=1_000_000,
        rate_limit_burst=100_000,
    )
    app = create_app(
        settings,
        model=fuzz_model,
        detector=build_detector(),
        authenticator=make_authenticator(SECRET),
    )
    return live_server(app)


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_url: str) -> schemathesis.BaseSchema:
    """The schema as the server publishes it, with a fixed seed (reproducible failures)."""
    # TRACE and QUERY are left out of the unexpected methods tried: their bug is pinned below.
    coverage = {"unexpected-methods": ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]}
    config = schemathesis.Config.from_dict({"seed": SEED, "phases": {"coverage": coverage}})
    loaded = schemathesis.openapi.from_url(f"{fuzz_url}/openapi.json", config=config)
    return loaded.configure(base_url=fuzz_url) if hasattr(loaded, "configure") else loaded


@pytest.fixture(scope="module")
def fuzz_auth(token_auth: Callable[..., Any]) -> Any:
    """Signs a fresh clinician+admin token for every request, with a patient context."""
    return token_auth(scopes=("clinician", "admin"), patient=list(PATIENTS), subject="dr-fuzz")


def bearer(fuzz_auth: Any) -> dict[str, str]:
    """A header set holding one fresh (unused) token."""

    request = SimpleNamespace(headers={})
    fuzz_auth(request)
    headers: dict[str, str] = request.headers
    return headers


@pytest.fixture(autouse=True)
def _node_id_shim(request: pytest.FixtureRequest) -> None:
    """Schemathesis' pytest loader renames the node through ``_nodeid``, gone in pytest 9."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_every_operation_answers_within_its_schema(
    case: schemathesis.Case[Any], fuzz_url: str, fuzz_auth: Any
) -> None:
    response = case.call_and_validate(base_url=fuzz_url, headers=bearer(fuzz_auth), checks=CHECKS)
    # The coverage phase also sends requests without the token (that 401 is documented);
    # a 401 despite one would mean the token hook broke and only the auth wall was fuzzed.
    if "Authorization" in response.request.headers:
        assert response.status_code != 401, response.text


@pytest.mark.parametrize("path", ["/v1/diagnose", "/v1/feedback"])
def test_undecodable_json_body_is_a_documented_422(
    path: str, fuzz_url: str, fuzz_auth: Any
) -> None:
    headers = {**bearer(fuzz_auth), "Content-Type": "application/json"}
    response = httpx.post(f"{fuzz_url}{path}", content=UNDECODABLE, headers=headers, timeout=10)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("method", ["TRACE", "QUERY"])
def test_unsupported_method_on_an_audited_route_is_405(
    method: str, fuzz_url: str, fuzz_auth: Any
) -> None:
    response = httpx.request(
        method, f"{fuzz_url}/v1/diagnose", headers=bearer(fuzz_auth), timeout=10
    )
    assert response.status_code == 405, response.text


def test_unsupported_method_on_an_unaudited_route_is_405(fuzz_url: str) -> None:
    """The control for the test above: away from the audit, TRACE is a plain 405."""
    assert httpx.request("TRACE", f"{fuzz_url}/healthz", timeout=10).status_code == 405
