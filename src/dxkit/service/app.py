"""The app factory: settings in, a FastAPI app with its routers and middleware out.

Why a factory and not a module-level ``app``: importing the package must do no work (no
model, no settings read), tests build as many apps as they like with their own settings
and a tiny model, and uvicorn runs the same factory (``--factory``) in production.

The model and the de-identification detector are loaded once, in the background, when
the app starts: on a fresh machine the default model is trained first (about half a
minute), and meanwhile ``/healthz`` answers and ``/readyz`` says 503, so an orchestrator
neither kills the process nor sends it traffic too early.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from dxkit import __version__
from dxkit.deid.engine import Detector
from dxkit.errors import DxkitError
from dxkit.models.base import DiagnosisModel
from dxkit.service import routes_diagnose, routes_health
from dxkit.service.deps import ServiceState
from dxkit.service.errors import CatchAllMiddleware, install_error_handlers
from dxkit.service.limits import BodyLimitMiddleware
from dxkit.service.metrics import MetricsMiddleware, ServiceMetrics
from dxkit.service.settings import ServiceSettings, load_settings

log = logging.getLogger("dxkit.service")

DESCRIPTION = (
    "Differential diagnosis from a patient case: notes (English or Chinese), age, sex, "
    "lifestyle, history and device or lab observations (LOINC codes, UCUM units). "
    "Identifiers in the text are replaced before the model sees it. Errors have one shape, "
    '`{"error": {"what", "expected", "found", "fix"}}`, and never repeat the input. '
    "Decision support only."
)
# Warms the detector's analyzer (built on first use, about 2 s) so no request pays for it.
_WARM_UP_TEXT = "Seen by Dr Alice Smith on 2024-01-02, phone 555-0100."


def create_app(
    settings: ServiceSettings | None = None,
    *,
    model: DiagnosisModel | None = None,
    detector: Detector | None = None,
) -> FastAPI:
    """A dxkit service app.

    Args:
        settings: the configuration; ``None`` reads ``DXKIT_*`` environment variables.
        model: serve this model instead of loading ``settings.model_dir`` or the default
            (tests pass a tiny one; nothing is trained then).
        detector: a de-identification detector to share (one is built otherwise).
    """
    settings = settings or load_settings()
    state = ServiceState(
        settings=settings,
        metrics=ServiceMetrics(),
        limiter=CapacityLimiter(settings.worker_threads),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tasks:
            if model is not None and detector is not None:
                await load_state(state, model, detector)  # nothing slow: ready at once
            else:
                tasks.start_soon(load_state, state, model, detector)
            yield
            tasks.cancel_scope.cancel()  # a load still running is abandoned at shutdown

    app = FastAPI(
        title="dxkit",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.dxkit = state
    install_error_handlers(app)
    app.include_router(routes_health.router)
    app.include_router(routes_diagnose.router)
    # Added inner to outer: the body limit sits closest to the routes, metrics outermost
    # so they count every answer, the 413s and 500s included.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    if settings.cors_origins:  # closed unless origins are listed: no CORS headers at all
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(CatchAllMiddleware, show_messages=settings.dev_mode)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    return app


async def load_state(
    state: ServiceState, model: DiagnosisModel | None, detector: Detector | None
) -> None:
    """Load (or train) the model and build the detector off the event loop, then go ready.

    A failure leaves the app alive with ``/readyz`` saying why (503): a bad model
    directory should be visible to an operator, not a crash loop.
    """
    try:
        if model is None:
            model = await anyio.to_thread.run_sync(
                load_service_model, state.settings, abandon_on_cancel=True
            )
        if detector is None:
            detector = await anyio.to_thread.run_sync(build_detector, abandon_on_cancel=True)
    except DxkitError as exc:
        state.status, state.error = "failed", f"{exc.what}: {exc.fix}"
        log.error("service not ready: %s", exc)
        return
    except Exception as exc:  # logged by type only: a message may quote file content
        state.status, state.error = "failed", f"internal error ({type(exc).__name__})"
        log.error("service not ready: %s while loading the model", type(exc).__name__)
        return
    state.model, state.detector, state.status = model, detector, "ready"
    log.info(
        "ready: %s model %s with %d conditions",
        getattr(model, "kind", type(model).__name__),
        getattr(model, "model_id", "unsaved"),
        len(model.labels),
    )


def load_service_model(settings: ServiceSettings) -> DiagnosisModel:
    """The model in ``settings.model_dir``, or the default one (trained on first start)."""
    from dxkit.models.base import load_model
    from dxkit.models.default import default_model_dir, load_default_model

    start = time.perf_counter()
    if settings.model_dir is not None:
        log.info("loading the model in %s", settings.model_dir)
        loaded = load_model(settings.model_dir)
    else:
        if not (default_model_dir() / "dxkit-model.json").is_file():
            log.info(
                "training the default model on the synthetic cohort into %s "
                "(first start only, about half a minute)",
                default_model_dir(),
            )
        else:
            log.info("loading the default model from %s", default_model_dir())
        loaded = load_default_model()
    log.info("model loaded in %.1f s", time.perf_counter() - start)
    return loaded


def build_detector() -> Detector:
    """The shared de-identification detector, warmed up so no request pays its start."""
    start = time.perf_counter()
    log.info("loading the de-identification rules")
    detector = Detector()
    detector.detect(_WARM_UP_TEXT)
    log.info("de-identification rules loaded in %.1f s", time.perf_counter() - start)
    return detector
