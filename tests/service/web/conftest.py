"""Fixtures of the web page tests: an app with a fixed model, and fresh token strings.

The page logs in by pasting one token, so these tests need tokens as strings (the
service conftest's ``token_auth`` signs them onto requests); :func:`fresh_token` turns
a ``TokenAuth`` into one unused token.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pytest
from fastapi import FastAPI

from dxkit.cases.schema import Case
from dxkit.deid.engine import Detector
from dxkit.models.base import DiagnosisModel
from dxkit.service.app import build_detector, create_app
from dxkit.service.auth import Authenticator
from dxkit.service.settings import ServiceSettings

WEB_SECRET = "web-tests-pseudonym-secret-000001"


class FixedModel:
    """The same differential every time: route tests are about shapes and access."""

    labels = ["Pneumonia", "Eczema", "Cystitis"]  # noqa: RUF012
    model_id = "fixed-web"

    def predict_proba(self, cases: Sequence[Case]) -> np.ndarray:
        return np.tile([0.7, 0.2, 0.1], (len(cases), 1))


def fresh_token(auth: Any) -> str:
    """One unused token signed by ``auth`` (a ``TokenAuth`` of the service conftest)."""
    request = SimpleNamespace(headers={})
    auth(request)
    header: str = request.headers["Authorization"]
    return header.removeprefix("Bearer ")


@pytest.fixture(scope="session")
def new_token() -> Callable[[Any], str]:
    """:func:`fresh_token` as a fixture (test modules here cannot import this file)."""
    return fresh_token


@pytest.fixture(scope="session")
def web_secret() -> str:
    """The pseudonym secret of :func:`make_web_app`'s apps."""
    return WEB_SECRET


@pytest.fixture(scope="session")
def web_detector() -> Detector:
    """One de-identification detector for every web test (building one takes seconds)."""
    return build_detector()


@pytest.fixture()
def make_web_app(
    tmp_path: Path,
    web_detector: Detector,
    make_authenticator: Callable[[str], Authenticator],
) -> Callable[..., FastAPI]:
    """``make_web_app(model=None, **settings)``: an app over a fresh SQLite file."""

    def build(model: DiagnosisModel | None = None, **overrides: Any) -> FastAPI:
        values: dict[str, Any] = {
            "database_url": f"sqlite:///{tmp_path / 'web.sqlite3'}",
            "patient_key_secret": WEB_SECRET,
            "rate_limit_per_minute": 100_000,
            "rate_limit_burst": 10_000,
        }
        settings = ServiceSettings(**(values | overrides))
        return create_app(
            settings,
            model=model or cast(DiagnosisModel, FixedModel()),
            detector=web_detector,
            authenticator=make_authenticator(WEB_SECRET),
        )

    return build
