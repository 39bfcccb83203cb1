"""The service's shared state and the FastAPI dependencies that hand it to routes.

All dependencies live here so routes stay thin (parse, call the pipeline, shape the
answer) and cross-cutting checks (storage sessions, authentication scopes, rate limits)
are one more ``Annotated[..., Depends(...)]`` or a router's ``dependencies=``, without
touching the routes' bodies. The state is built once per app in the lifespan (see
:func:`dxkit.service.app.create_app`) and lives on ``app.state.dxkit``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio.from_thread
import numpy as np
from anyio import CapacityLimiter
from fastapi import Depends, HTTPException, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from dxkit.service.auth import Principal, require_scopes
from dxkit.service.errors import ErrorResponse
from dxkit.service.metrics import ServiceMetrics
from dxkit.service.ratelimit import RateLimitDep
from dxkit.service.settings import ServiceSettings

if TYPE_CHECKING:  # imported where the lifespan loads them, not when routes are declared
    from dxkit.cases.schema import Case
    from dxkit.deid.engine import Detector
    from dxkit.inference.microbatch import MicroBatcher
    from dxkit.models.base import DiagnosisModel

RETRY_AFTER_S = 5  # while the model loads (training the default model takes ~30 s)


@dataclass
class ServiceState:
    """What every request shares: settings, metrics, and, once loaded, model and detector.

    ``status`` moves from ``loading`` to ``ready`` (or ``failed``, with ``error`` saying
    why in words that hold no patient data) when the lifespan's loader finishes.
    """

    settings: ServiceSettings
    metrics: ServiceMetrics
    limiter: CapacityLimiter  # bounds concurrent CPU-bound diagnoses
    model: DiagnosisModel | None = None
    detector: Detector | None = None
    status: Literal["loading", "ready", "failed"] = "loading"
    error: str | None = None
    # Set by the lifespan: the migrated database and the key of every pseudonym.
    engine: Engine | None = None
    sessions: sessionmaker[Session] | None = None
    patient_secret: bytes = b""
    # Groups concurrent single cases into one model call (None: off); see predict.
    batcher: MicroBatcher[Case, np.ndarray] | None = None

    def predict(self, cases: Sequence[Case]) -> np.ndarray:
        """The model's probabilities for ``cases``, single cases through the micro-batcher.

        Called from a worker thread (the diagnosis runs off the event loop): a single case
        is handed to the batcher on the loop and this thread waits for its row, so cases
        of concurrent requests share one model call. Batches (explanations' variants) go
        to the model directly.
        """
        assert self.model is not None
        if self.batcher is None or len(cases) != 1:
            return np.asarray(self.model.predict_proba(cases))
        batcher = self.batcher
        row = anyio.from_thread.run(batcher.submit, cases[0])
        return np.asarray(row)[None, :]

    def pseudonym(self, value: str) -> str:
        """``value`` (a patient or clinician id) as its 64-hex-digit pseudonym."""
        from dxkit.service.storage import pseudonym

        return pseudonym(value, self.patient_secret)

    @property
    def ready(self) -> bool:
        """True once the model and the de-identification detector are both loaded."""
        return (
            self.status == "ready"
            and self.model is not None
            and self.detector is not None
            and self.sessions is not None
            and bool(self.patient_secret)
        )


@dataclass(frozen=True)
class Ready:
    """The loaded model and detector, for routes that cannot work without them."""

    model: DiagnosisModel
    detector: Detector
    sessions: sessionmaker[Session]
    state: ServiceState


def get_state(request: Request) -> ServiceState:
    """The app's shared state."""
    state: ServiceState = request.app.state.dxkit
    return state


def get_settings(state: Annotated[ServiceState, Depends(get_state)]) -> ServiceSettings:
    """The app's settings."""
    return state.settings


def get_metrics(state: Annotated[ServiceState, Depends(get_state)]) -> ServiceMetrics:
    """The app's metrics registry."""
    return state.metrics


def require_ready(state: Annotated[ServiceState, Depends(get_state)]) -> Ready:
    """The model and detector, or 503 with Retry-After while they load (or failed to)."""
    if not state.ready or state.model is None or state.detector is None or state.sessions is None:
        headers = {"Retry-After": str(RETRY_AFTER_S)} if state.status == "loading" else None
        raise HTTPException(503, detail=f"model {state.status}", headers=headers)
    return Ready(model=state.model, detector=state.detector, sessions=state.sessions, state=state)


def require_storage(state: Annotated[ServiceState, Depends(get_state)]) -> sessionmaker[Session]:
    """The database's session factory, or 503 while it is not open (yet).

    Reading cases and recording feedback need the database but not the model, so they
    work while a model reloads.
    """
    if state.sessions is None or not state.patient_secret:
        headers = {"Retry-After": str(RETRY_AFTER_S)} if state.status == "loading" else None
        raise HTTPException(503, detail="storage unavailable", headers=headers)
    return state.sessions


StateDep = Annotated[ServiceState, Depends(get_state)]
SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]
ReadyDep = Annotated[Ready, Depends(require_ready)]
SessionsDep = Annotated[sessionmaker[Session], Depends(require_storage)]

# One instance each, so a route that names the principal and a router that requires the
# scope share FastAPI's per-request cache (the token is verified once, its jti spent once).
require_clinician = require_scopes("clinician")
require_admin = require_scopes("admin")
ClinicianDep = Annotated[Principal, Depends(require_clinician)]
AdminDep = Annotated[Principal, Depends(require_admin)]
# For ``dependencies=[...]`` on routers: rate limit first (failed logins count too), then
# 401 without a valid token, then 403 without the scope; body validation comes after.
CLINICIAN_ONLY = [RateLimitDep, Depends(require_clinician)]
ADMIN_ONLY = [RateLimitDep, Depends(require_admin)]
# Documented on every protected route, so the OpenAPI schema (and its fuzzers) know them.
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "missing, invalid, expired or replayed token"},
    403: {"model": ErrorResponse, "description": "scope or patient context not granted"},
    429: {"model": ErrorResponse, "description": "rate limit exceeded (see Retry-After)"},
}
