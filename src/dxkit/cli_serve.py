"""``dxkit serve``: run the web service under uvicorn.

Options override the ``DXKIT_*`` environment variables (see
:class:`dxkit.service.settings.ServiceSettings`), so a container sets the environment and
a person trying it out types ``dxkit serve --port 8080``. Kept apart from
:mod:`dxkit.cli` so FastAPI and uvicorn load only for this command.

The app is built before the server starts, so a missing token verification key
(``DXKIT_JWT_PUBLIC_KEY_FILE`` / ``DXKIT_JWT_JWKS_FILE`` and ``DXKIT_JWT_ISSUER``, or
``DXKIT_DEV_MODE=1`` to try it out) stops the command with one readable line instead of
a server that answers nothing. Every patient-facing route requires a bearer token, so
other interfaces may be bound; tokens and answers still need TLS on the way, which a
reverse proxy provides, hence the warning.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from dxkit.errors import DataNotFoundError, InputError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve(
    host: Annotated[
        str | None, typer.Option(help="interface to bind [env DXKIT_HOST, default 127.0.0.1]")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="port [env DXKIT_PORT, default 8000]", min=1, max=65535)
    ] = None,
    model_dir: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="saved model directory or models:/NAME/VERSION from the registry "
            "[env DXKIT_MODEL_DIR; default model]",
        ),
    ] = None,
    tracking_uri: Annotated[
        str | None,
        typer.Option(help="registry for models:/ URIs [env MLFLOW_TRACKING_URI; local store]"),
    ] = None,
) -> None:
    """Serve diagnoses over HTTP: POST /v1/diagnose, /healthz, /readyz, /metrics, /docs."""
    import uvicorn

    from dxkit.service.app import create_app
    from dxkit.service.settings import load_settings

    settings = load_settings(host=host, port=port, model_dir=model_dir)
    if settings.model_dir is not None and str(settings.model_dir).startswith("models:"):
        from dxkit.tracking.registry import resolve_model_uri

        local = resolve_model_uri(str(settings.model_dir), tracking=tracking_uri)
        settings = settings.model_copy(update={"model_dir": local})
    if settings.model_dir is not None and not settings.model_dir.is_dir():
        raise DataNotFoundError(
            "--model",
            expected="a directory written by `dxkit train --out DIR`",
            found=f"no directory {settings.model_dir}",
            fix="check the path, or leave --model out to serve the default model",
        )
    configure_logging(settings.log_level)
    log = logging.getLogger("dxkit.service")
    if settings.dev_mode:
        if settings.host not in LOOPBACK:
            # dev mode prints a signing key: anyone reading the logs could mint tokens
            raise InputError(
                "DXKIT_DEV_MODE",
                expected="dev mode only on a loopback host (127.0.0.1, localhost, ::1)",
                found=f"dev mode with --host {settings.host}",
                fix="configure token keys (DXKIT_JWT_PUBLIC_KEY_FILE) to serve beyond loopback",
            )
        log.warning("dev mode is on: never use it with real patient data")
    if settings.host not in LOOPBACK:
        log.warning(
            "serving on %s: bearer tokens travel in clear over plain HTTP; put a TLS "
            "reverse proxy in front of the service",
            settings.host,
        )
    app = create_app(settings)  # refuses to build without token verification keys
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        server_header=False,  # do not advertise the server's version
        timeout_graceful_shutdown=int(settings.request_timeout_s),
    )
    uvicorn.Server(config).run()


def configure_logging(level: str) -> None:
    """Send dxkit's log lines (model loading, readiness, internal error ids) to stderr."""
    logger = logging.getLogger("dxkit")
    logger.setLevel(level.upper())
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logger.addHandler(handler)


def register(app: typer.Typer) -> None:
    """Add ``dxkit serve`` to the dxkit app."""
    app.command("serve")(serve)
