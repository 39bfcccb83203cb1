"""Operational routes: liveness, readiness and Prometheus metrics.

Liveness and readiness are separate because the first start may train the default model
(about half a minute): the process is alive and should not be restarted, but it must not
receive traffic yet. An orchestrator restarts on ``/healthz`` and routes on ``/readyz``;
both stay open (no token, no rate limit) so probes never fail for want of credentials.
``/metrics`` needs the admin scope: its counts by condition describe the patients seen.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from dxkit import __version__
from dxkit.service.deps import ADMIN_ONLY, AUTH_RESPONSES, MetricsDep, StateDep

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    """Liveness: the process answers."""

    status: Literal["ok"] = "ok"
    version: str = __version__


class Readiness(BaseModel):
    """Readiness: whether diagnoses can be served, and which model serves them."""

    status: Literal["loading", "ready", "failed"]
    model_id: str | None = None
    model_kind: str | None = None
    error: str | None = None


@router.get("/healthz", summary="Liveness")
def healthz() -> Health:
    """200 while the process runs, whether or not the model has loaded."""
    return Health()


@router.get(
    "/readyz",
    summary="Readiness",
    response_model=Readiness,
    response_model_exclude_none=True,
    responses={503: {"model": Readiness, "description": "model loading or failed to load"}},
)
def readyz(state: StateDep) -> Readiness | JSONResponse:
    """200 once the model and de-identification rules are loaded, 503 before (or on failure)."""
    model = state.model
    answer = Readiness(
        status=state.status,
        model_id=str(getattr(model, "model_id", "unsaved")) if model is not None else None,
        model_kind=str(getattr(model, "kind", type(model).__name__)) if model else None,
        error=state.error,
    )
    if state.ready:
        return answer
    return JSONResponse(answer.model_dump(exclude_none=True), status_code=503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    dependencies=ADMIN_ONLY,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **AUTH_RESPONSES},
)
def metrics(service_metrics: MetricsDep) -> Response:
    """Request counts and latencies by route, predictions by top condition, abstentions."""
    return Response(service_metrics.render(), media_type=CONTENT_TYPE_LATEST)
