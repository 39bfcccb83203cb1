"""The app factory: settings in, a FastAPI app with its routers and middleware out.

Why a factory and not a module-level ``app``: importing the package must do no work (no
model, no settings read), tests build as many apps as they like with their own settings
and a tiny model, and uvicorn runs the same factory (``--factory``) in production.

The model and the de-identification detector are loaded once, in the background, when
the app starts: on a fresh machine the default model is trained first (about half a
minute), and meanwhile ``/healthz`` answers and ``/readyz`` says 503, so an orchestrator
neither kills the process nor sends it traffic too early.

The database is migrated (``alembic upgrade head``) and opened first, in the same
background load, so readiness also means "answers can be stored and audited". Every
pseudonym (patients, clinicians) is an HMAC under ``DXKIT_PATIENT_KEY_SECRET``; the app
refuses to serve without it, except in dev mode and when the caller hands it a model
in-process (tests, notebooks): those get a random secret for the run, with a warning,
which keeps pseudonyms unlinkable across restarts but never weak. Without a secret
the service stays up but never goes ready (``/readyz`` says why), and a database that
cannot be opened is reported the same way.

Every ``/v1/*`` and ``/cds-services*`` route needs a bearer token (see
:mod:`dxkit.service.auth`) and is rate limited; ``/metrics`` needs the admin scope;
``/healthz``, ``/readyz`` and the docs are open. The app is not built without token
verification keys (outside dev mode): an open service holding patient data must never
come up by accident. The authenticator's pseudonyms use the same secret as the stored
ones, so a clinician's patient context can be matched to stored cases; without a secret
it gets a throwaway one, which is harmless because nothing can be served or stored then
(``/healthz`` still answers and ``/readyz`` says what is missing).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread
import numpy as np
from anyio import CapacityLimiter
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from dxkit import __version__
from dxkit.cases.schema import Case
from dxkit.deid.engine import Detector
from dxkit.errors import DxkitError, InputError
from dxkit.models.base import DiagnosisModel
from dxkit.service import (
    routes_cases,
    routes_cds,
    routes_dashboard,
    routes_diagnose,
    routes_fhir,
    routes_health,
    routes_web,
)
from dxkit.service.audit import AuditMiddleware
from dxkit.service.auth import Authenticator, build_authenticator, install_auth
from dxkit.service.deps import ServiceState
from dxkit.service.errors import CatchAllMiddleware, install_error_handlers
from dxkit.service.limits import BodyLimitMiddleware
from dxkit.service.metrics import MetricsMiddleware, ServiceMetrics
from dxkit.service.ratelimit import install_rate_limit, limiter_from_settings
from dxkit.service.settings import SECRET_BYTES, ServiceSettings, load_settings

if TYPE_CHECKING:
    from dxkit.inference.microbatch import MicroBatcher

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


NO_SECRET = InputError(
    "DXKIT_PATIENT_KEY_SECRET",
    expected="a secret of 16 or more bytes for patient and clinician pseudonyms",
    found="no secret configured",
    fix="set DXKIT_PATIENT_KEY_SECRET to a long random value, e.g. the output of "
    "`python -c 'import secrets; print(secrets.token_hex(32))'`, and keep it stable",
)


def create_app(
    settings: ServiceSettings | None = None,
    *,
    model: DiagnosisModel | None = None,
    detector: Detector | None = None,
    authenticator: Authenticator | None = None,
) -> FastAPI:
    """A dxkit service app.

    Args:
        settings: the configuration; ``None`` reads ``DXKIT_*`` environment variables.
        model: serve this model instead of loading ``settings.model_dir`` or the default
            (tests pass a tiny one; nothing is trained then).
        detector: a de-identification detector to share (one is built otherwise).
        authenticator: verifies bearer tokens; built from the ``DXKIT_JWT_*`` settings
            otherwise. Its pseudonym secret must be the configured patient secret; when
            none is configured, the authenticator's becomes the service's (in-process use).

    Raises:
        InputError: no token verification key outside dev mode, or an authenticator whose
            secret differs from ``DXKIT_PATIENT_KEY_SECRET``.
    """
    settings = settings or load_settings()
    if authenticator is not None:
        secret = shared_secret(settings, authenticator)
    else:
        secret = patient_secret(settings, in_process=model is not None) or b""
        # Without a secret the service never goes ready; a throwaway key still lets the
        # authenticator answer 401/403 correctly meanwhile.
        authenticator = build_authenticator(settings, secret=secret or secrets.token_bytes(32))
    state = ServiceState(
        settings=settings,
        metrics=ServiceMetrics(),
        limiter=CapacityLimiter(settings.worker_threads),
        patient_secret=secret,
    )
    state.metrics.registry.register(routes_cases.FeedbackCollector(state))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Storage first and before serving: every audited request needs it at once.
        await anyio.to_thread.run_sync(open_storage_or_fail, state)
        async with anyio.create_task_group() as tasks:
            if state.status == "failed":
                pass  # storage or the secret is missing: not ready, nothing to load
            elif model is not None and detector is not None:
                await load_state(state, model, detector)  # nothing slow: ready at once
            else:
                tasks.start_soon(load_state, state, model, detector)
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()  # a load still running is abandoned at shutdown
                if state.batcher is not None:
                    await state.batcher.close()
                close_storage(state)

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
    install_auth(app, authenticator)
    install_rate_limit(app, limiter_from_settings(settings))
    app.include_router(routes_health.router)
    app.include_router(routes_diagnose.router)
    app.include_router(routes_cases.router)
    app.include_router(routes_fhir.router)
    app.include_router(routes_cds.router)
    app.include_router(routes_dashboard.router)
    app.include_router(routes_web.session_router)
    app.include_router(routes_web.page_router)
    # Added inner to outer: the body limit sits closest to the routes; the audit sits
    # outside the catch-all so it records the final status; metrics outermost so they
    # count every answer, the 413s, 500s and audit failures included.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    if settings.cors_origins:  # closed unless origins are listed: no CORS headers at all
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(CatchAllMiddleware, show_messages=settings.dev_mode)
    app.add_middleware(AuditMiddleware, state=state)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    return app


def shared_secret(settings: ServiceSettings, authenticator: Authenticator) -> bytes:
    """The pseudonym secret of a given authenticator, checked against the configured one.

    Why they must agree: the token's patient context is compared with stored cases by
    pseudonym, and the audit log's actor keys must link up with the feedback's.
    """
    theirs = authenticator.config.secret
    theirs = theirs.encode("utf-8") if isinstance(theirs, str) else theirs
    configured = settings.patient_key_secret
    if configured is not None and configured.get_secret_value().encode("utf-8") != theirs:
        raise InputError(
            "authenticator",
            expected="an authenticator keyed with DXKIT_PATIENT_KEY_SECRET",
            found="a different pseudonym secret",
            fix="build the authenticator with the service's patient key secret",
        )
    if len(theirs) < SECRET_BYTES:
        raise InputError(
            "authenticator",
            expected=f"a pseudonym secret of at least {SECRET_BYTES} bytes",
            found=f"{len(theirs)} bytes",
            fix="build the authenticator with a long random secret",
        )
    return theirs


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
    state.batcher = make_batcher(state.settings, model)
    state.model, state.detector, state.status = model, detector, "ready"
    log.info(
        "ready: %s model %s with %d conditions",
        getattr(model, "kind", type(model).__name__),
        getattr(model, "model_id", "unsaved"),
        len(model.labels),
    )


def patient_secret(settings: ServiceSettings, *, in_process: bool = False) -> bytes | None:
    """The pseudonym key: the configured one, or a random one in dev mode and in-process.

    ``None`` otherwise, and the service will not go ready (see :data:`NO_SECRET`): one
    that silently made up its key at every start would store pseudonyms that no later run
    can link to a patient (the clinician's context check and feedback analyses would
    quietly break), so a deployment must set one.
    """
    if settings.patient_key_secret is not None:
        return settings.patient_key_secret.get_secret_value().encode("utf-8")
    if not (settings.dev_mode or in_process):
        return None
    log.warning(
        "no DXKIT_PATIENT_KEY_SECRET: using a random one for this run; "
        "pseudonyms will not link across restarts"
    )
    return secrets.token_bytes(32)


def open_storage_or_fail(state: ServiceState) -> None:
    """Open storage; on failure, or without a secret, mark the service failed (503s)."""
    try:
        open_storage(state)
    except DxkitError as exc:
        state.status, state.error = "failed", f"{exc.what}: {exc.fix}"
        log.error("service not ready: %s", exc)
        return
    except Exception as exc:  # by type only: a driver's message may hold the URL's password
        state.status, state.error = "failed", f"database unavailable ({type(exc).__name__})"
        log.error("service not ready: database unavailable (%s)", type(exc).__name__)
        return
    if not state.patient_secret:
        state.status, state.error = "failed", f"{NO_SECRET.what}: {NO_SECRET.fix}"
        log.error("service not ready: %s", NO_SECRET)


def open_storage(state: ServiceState) -> None:
    """Migrate the database to the newest schema and open its engine and sessions."""
    from sqlalchemy.pool import StaticPool

    from dxkit.service.storage import make_engine, make_session_factory, migrate, parse_url

    url = parse_url(state.settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        # One in-memory database for the whole app: SQLite's default pool would give each
        # worker thread its own, empty one.
        engine = make_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        engine = make_engine(url)
    try:
        migrate(engine)
    except BaseException:
        engine.dispose()
        raise
    state.engine, state.sessions = engine, make_session_factory(engine)
    log.info("database ready (%s)", engine.dialect.name)


def close_storage(state: ServiceState) -> None:
    """Close the database's connections at shutdown."""
    if state.engine is not None:
        state.engine.dispose()
        state.engine = state.sessions = None


def make_batcher(
    settings: ServiceSettings, model: DiagnosisModel
) -> MicroBatcher[Case, np.ndarray] | None:
    """The micro-batcher of ``model``'s single-case calls, unless the window is 0."""
    if settings.batch_window_ms <= 0:
        return None
    from dxkit.inference.microbatch import MicroBatcher

    def predict_rows(cases: list[Case]) -> list[np.ndarray]:
        return list(np.asarray(model.predict_proba(cases)))

    return MicroBatcher(
        predict_rows, max_batch=settings.batch_max, max_wait_ms=settings.batch_window_ms
    )


def load_service_model(settings: ServiceSettings) -> DiagnosisModel:
    """The model in ``settings.model_dir`` (on the fastest backend it offers, or the one
    ``DXKIT_BACKEND`` forces), or the default one (trained on first start)."""
    from dxkit.inference.backends import describe, select_backend
    from dxkit.models.default import default_model_dir, load_default_model

    start = time.perf_counter()
    if settings.model_dir is not None:
        log.info("loading the model in %s", settings.model_dir)
        loaded = select_backend(settings.model_dir, settings.backend)
        log.info("inference backend: %s", describe(loaded))
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
