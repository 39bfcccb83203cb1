"""Service test fixtures: a signing key, an authenticator that trusts it, fresh tokens.

Every protected route needs a bearer token, and tokens are single-use (a replayed
``jti`` is refused), so a test client signs a new token for each request through its
``auth`` hook (``client.auth = token_auth(...)``) instead of sending a fixed header.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import pytest

from dxkit.cases.synthetic import CohortConfig, CohortGenerator
from dxkit.deid.engine import Detector
from dxkit.knowledge.loader import KnowledgeBase
from dxkit.models.base import DiagnosisModel, load_model
from dxkit.models.tfidf import TfidfConfig, TfidfModel
from dxkit.service import devkeys
from dxkit.service.app import build_detector
from dxkit.service.auth import AuthConfig, Authenticator

ISSUER = "https://idp.test.example"
AUDIENCE = "dxkit"
AUTH_SECRET = "service-tests-pseudonym-secret-0001"
SUBJECT = "dr-test"


R = TypeVar("R")


class TokenAuth:
    """Signs a fresh token (new ``jti``) for every request it authenticates.

    A callable rather than an ``httpx.Auth`` subclass: Starlette's test client is built on
    ``httpx2`` and a real server is called with ``httpx``; both take a callable ``auth``.
    """

    def __init__(
        self,
        key: devkeys.DevKey,
        scopes: Sequence[str] = ("clinician",),
        patient: str | Sequence[str] | None = None,
        subject: str = SUBJECT,
    ) -> None:
        self.key = key
        self.scopes = tuple(scopes)
        self.patient = patient
        self.subject = subject

    def __call__(self, request: R) -> R:
        token = devkeys.dev_token(
            self.scopes,
            self.patient,
            self.key,
            subject=self.subject,
            issuer=ISSUER,
            audience=AUDIENCE,
        )
        request.headers["Authorization"] = f"Bearer {token}"  # type: ignore[attr-defined]
        return request


@pytest.fixture(scope="session")
def dev_key() -> devkeys.DevKey:
    """One ES256 key for the session: generating it is cheap, but needless per test."""
    return devkeys.DevKey.generate()


@pytest.fixture(scope="session")
def make_authenticator(dev_key: devkeys.DevKey) -> Callable[[str], Authenticator]:
    """``make_authenticator(secret)``: trusts ``dev_key``; the secret must be the app's."""

    def build(secret: str = AUTH_SECRET) -> Authenticator:
        config = AuthConfig((dev_key.verify_key,), ISSUER, AUDIENCE, secret)
        return Authenticator(config)

    return build


@pytest.fixture()
def authenticator(make_authenticator: Callable[[str], Authenticator]) -> Authenticator:
    """An authenticator keyed with :data:`AUTH_SECRET` (for apps configured without one)."""
    return make_authenticator(AUTH_SECRET)


@pytest.fixture(scope="session")
def token_auth(dev_key: devkeys.DevKey) -> Callable[..., TokenAuth]:
    """``token_auth(scopes=("clinician",), patient=None, subject="dr-test")``."""

    def build(
        scopes: Sequence[str] = ("clinician",),
        patient: str | Sequence[str] | None = None,
        subject: str = SUBJECT,
    ) -> TokenAuth:
        return TokenAuth(dev_key, scopes, patient, subject)

    return build


@pytest.fixture(scope="module")
def live_server() -> Iterator[Callable[[Any], str]]:
    """``live_server(app)``: runs ``app`` under real uvicorn on 127.0.0.1, returns its URL.

    Module-scoped so a fuzzing or load test pays the start once; every server started
    through it is stopped (and its thread joined) when the module's tests are done.
    """
    import socket
    import threading
    import time

    import uvicorn

    running: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(app: Any) -> str:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        running.append((server, thread))
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in running:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def tiny_model(tiny_kb: KnowledgeBase, tmp_path_factory: pytest.TempPathFactory) -> DiagnosisModel:
    """Saved and loaded back, as the service would serve it (with its kind and id)."""
    cohort = CohortGenerator(CohortConfig(n=120, seed=0), tiny_kb).generate()
    model = TfidfModel(TfidfConfig()).fit([lc.case for lc in cohort], [lc.label for lc in cohort])
    directory = tmp_path_factory.mktemp("svc-model") / "model"
    model.save(directory)
    return load_model(directory)


@pytest.fixture(scope="session")
def detector() -> Detector:
    """The service's de-identification detector, built once (it loads name lists)."""
    return build_detector()
