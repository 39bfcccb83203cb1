"""Registered model versions, and turning ``models:/NAME/VERSION`` into a local directory.

Serving and scoring load a model from a directory. :func:`resolve_model_uri` lets them
take a registry reference instead: it looks the version up, downloads its ``model``
artifact once into a cache under ``$DXKIT_HOME`` (write to a temporary folder, then
rename, so an interrupted download never looks complete) and returns that directory.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from dxkit.errors import InputError
from dxkit.tracking.store import client, tracking_uri, unreachable

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

PREFIX = "models:/"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_MANIFEST = "dxkit-model.json"


def is_registry_uri(value: str | Path) -> bool:
    """Whether ``value`` names a registry version rather than a directory."""
    return str(value).startswith(PREFIX) or str(value).startswith("models:")


def check_name(name: str) -> str:
    """A registry name dxkit accepts: letters, digits, ``_ . -``, up to 100 characters."""
    if not _NAME.fullmatch(name):
        raise InputError(
            "--register",
            expected="a model name of letters, digits, '_', '.', '-' (at most 100)",
            found=f"{len(name)} characters including others" if name else "an empty name",
            fix="pass e.g. --register dxkit-rnn",
        )
    return name


def register_version(mlflow: MlflowClient, name: str, run_id: str) -> int:
    """Register the run's ``model`` artifact as the next version of ``name``."""
    from mlflow.exceptions import MlflowException

    check_name(name)
    try:
        mlflow.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    version = mlflow.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    return int(version.version)


def parse_model_uri(uri: str) -> tuple[str, str]:
    """``models:/NAME/VERSION`` -> (NAME, VERSION); VERSION is digits or ``latest``.

    >>> parse_model_uri("models:/dxkit-rnn/3"), parse_model_uri("models:/x/latest")
    (('dxkit-rnn', '3'), ('x', 'latest'))
    """
    parts = uri[len(PREFIX) :].split("/") if uri.startswith(PREFIX) else []
    if len(parts) != 2 or not _NAME.fullmatch(parts[0]):
        raise InputError(
            "model URI",
            expected="models:/NAME/VERSION or models:/NAME/latest",
            found=f"{uri[:80]!r}",
            fix="name a registered model, e.g. models:/dxkit-rnn/1",
        )
    if not (parts[1].isdigit() or parts[1] == "latest"):
        raise InputError(
            "model URI version",
            expected="a version number or 'latest'",
            found=repr(parts[1][:20]),
            fix=f"use models:/{parts[0]}/1 or models:/{parts[0]}/latest",
        )
    return parts[0], parts[1]


def versions(mlflow: MlflowClient, name: str) -> list[int]:
    """The version numbers registered under ``name``, oldest first."""
    found = mlflow.search_model_versions(f"name = '{name}'")
    return sorted(int(v.version) for v in found)


def registered_names(mlflow: MlflowClient) -> list[str]:
    """All registered model names, sorted."""
    return sorted(m.name for m in mlflow.search_registered_models(max_results=1000))


def _missing(mlflow: MlflowClient, name: str, version: str) -> InputError:
    names = registered_names(mlflow)
    if name not in names:
        return InputError(
            "registered model",
            expected=f"a model registered as {name!r}",
            found="registered names: " + (", ".join(names[:20]) or "none"),
            fix="train with `dxkit train --register NAME`, or use one of the names found",
        )
    known = versions(mlflow, name)
    return InputError(
        "registered model version",
        expected=f"version {version} of {name!r}",
        found="versions " + ", ".join(map(str, known)),
        fix=f"use one of these versions or models:/{name}/latest",
    )


def cache_root() -> Path:
    """Where downloaded registry versions are kept (``$DXKIT_HOME/registry``)."""
    from dxkit.models.default import dxkit_home

    return dxkit_home() / "registry"


def resolve_model_uri(uri: str | Path, *, tracking: str | None = None) -> Path:
    """A local model directory for ``uri``: a path as is, a registry version downloaded.

    Args:
        uri: a model directory, or ``models:/NAME/VERSION`` / ``models:/NAME/latest``.
        tracking: the registry's tracking URI (default: see ``store.tracking_uri``).

    Raises:
        InputError: a malformed URI, an unknown name or version (the known ones listed),
            an unreachable registry.
    """
    if not is_registry_uri(uri):
        return Path(uri)
    name, wanted = parse_model_uri(str(uri))
    store = tracking_uri(tracking)
    mlflow = client(store)
    try:
        known = versions(mlflow, name)
        version = str(known[-1]) if wanted == "latest" and known else wanted
        if not known or int(version) not in known:
            raise _missing(mlflow, name, wanted)
        source = mlflow.get_model_version(name, version)
        digest = hashlib.sha256(store.encode("utf-8")).hexdigest()[:12]
        target = cache_root() / digest / name / version
        if (target / _MANIFEST).is_file():
            return target
        return _download(mlflow, str(source.run_id), target)
    except InputError:
        raise
    except Exception as exc:
        raise unreachable(store, exc) from None


def _download(mlflow: MlflowClient, run_id: str, target: Path) -> Path:
    """Fetch the run's ``model`` artifact into ``target`` atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        local = Path(mlflow.download_artifacts(run_id, "model", str(tmp)))
        if target.exists():  # another process finished first: keep its copy
            return target
        os.replace(local, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
