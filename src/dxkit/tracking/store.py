"""Where runs are tracked: the store's URI, its artifact folder and a quiet, offline client.

The default store is a SQLite database under ``$DXKIT_HOME/mlflow`` with its artifacts
beside it, so tracking works on a laptop with no server and nothing leaves the machine.
Any other MLflow URI (a server, a PostgreSQL database) is chosen by ``--tracking-uri`` or
``DXKIT_TRACKING_URI``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from dxkit.errors import InputError

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

TRACKING_ENV = "DXKIT_TRACKING_URI"
EXPERIMENT = "dxkit"
_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "file", "databricks")
# MLflow 3 reports usage unless told not to; clinical sites run offline. MLFLOW_DISABLE_
# TELEMETRY is MLflow's own switch, DO_NOT_TRACK the cross-tool convention it also honours.
_OFFLINE_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_LOGGING_LEVEL": "WARNING",  # not "Creating initial MLflow database tables"
}


def default_tracking_uri() -> str:
    """The local default: ``sqlite:///$DXKIT_HOME/mlflow/mlflow.db``."""
    from dxkit.models.default import dxkit_home

    return f"sqlite:///{(dxkit_home() / 'mlflow' / 'mlflow.db').resolve()}"


def tracking_uri(option: str | None = None) -> str:
    """The store to use: the option, else ``$DXKIT_TRACKING_URI``, else the local default.

    Raises:
        InputError: a URI whose scheme MLflow cannot store runs in.
    """
    uri = option or os.environ.get(TRACKING_ENV) or default_tracking_uri()
    scheme = urlparse(uri).scheme.split("+")[0]
    if scheme not in _SCHEMES and not (scheme == "" and uri.startswith("/")):
        raise InputError(
            "--tracking-uri",
            expected="an MLflow tracking URI (sqlite:///PATH, http(s)://HOST, postgresql://...)",
            found=f"a URI with scheme {scheme!r}" if scheme else "a relative path",
            fix="pass e.g. sqlite:////abs/path/mlflow.db, or --no-track to switch tracking off",
        )
    return uri


def artifact_root(uri: str) -> str | None:
    """The artifact folder of a database store: ``artifacts`` beside the database file.

    MLflow would otherwise put artifacts under ``./mlruns`` of whatever directory the
    command ran in. Servers and other stores choose their own (``None``).
    """
    parsed = urlparse(uri)
    if parsed.scheme != "sqlite" or not parsed.path or parsed.path == "/:memory:":
        return None
    database = Path(uri[len("sqlite:///") :])
    return (database.parent / "artifacts").resolve().as_uri()


def offline_mlflow() -> None:
    """Switch MLflow's telemetry and progress bars off and lower its log level.

    Values the user set explicitly are kept (``setdefault``).
    """
    for key, value in _OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    import mlflow  # noqa: F401  (configures its loggers on import; lowered after)

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def client(uri: str) -> MlflowClient:
    """An MLflow client for ``uri``; a SQLite store's folder is created if missing.

    Raises:
        InputError: the store cannot be opened (wrong path, server down).
    """
    offline_mlflow()
    from mlflow.tracking import MlflowClient

    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    try:
        found = MlflowClient(tracking_uri=uri, registry_uri=uri)
        found.search_experiments(max_results=1)  # connects (and migrates a new database)
    except Exception as exc:  # MLflow raises many types; all mean "not usable"
        raise unreachable(uri, exc) from None
    return found


def experiment_id(found: MlflowClient, uri: str, name: str = EXPERIMENT) -> str:
    """The id of experiment ``name``, created (with the artifact folder) when missing."""
    existing = found.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    return str(found.create_experiment(name, artifact_location=artifact_root(uri)))


def unreachable(uri: str, exc: Exception) -> InputError:
    """The error for a store that cannot be used (the URI is shown, credentials are not)."""
    parsed = urlparse(uri)
    shown = parsed._replace(netloc=parsed.hostname or "").geturl() if parsed.netloc else uri
    return InputError(
        "tracking store",
        expected="a reachable MLflow tracking store",
        found=f"{shown} failed ({type(exc).__name__})",
        fix="check --tracking-uri / DXKIT_TRACKING_URI, or pass --no-track",
    )
