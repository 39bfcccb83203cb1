"""Recording one ``train`` or ``evaluate`` as an MLflow run.

A run holds the command's settings (parameters), its numeric results (metrics), the saved
model directory (artifact ``model``) and, when one was written, the HTML report. Metrics
are the flat numbers only: nested results such as per-subgroup tables go in as a JSON
artifact, where their structure survives.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dxkit.tracking.store import EXPERIMENT, client, experiment_id, tracking_uri, unreachable

MODEL_ARTIFACT = "model"
_MAX_PARAM = 500  # MLflow's limit on a parameter value's length


@dataclass(frozen=True)
class TrackedRun:
    """What a tracked command recorded: where, which run, and the registered version."""

    uri: str
    run_id: str
    model_name: str | None = None
    model_version: int | None = None

    def describe(self) -> str:
        """One line for the console."""
        registered = (
            f"; registered as models:/{self.model_name}/{self.model_version}"
            if self.model_name
            else ""
        )
        return f"tracked as run {self.run_id} in {self.uri}{registered}"


def flat_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers of ``metrics`` (one level of nesting, joined with ``.``).

    >>> flat_metrics({"top1": 0.8, "n": 10, "ok": True, "sub": {"ece": 0.1}, "s": "x"})
    {'top1': 0.8, 'n': 10.0, 'sub.ece': 0.1}
    """
    found: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float) and math.isfinite(float(value)):
            found[name] = float(value)
        elif isinstance(value, Mapping) and not prefix:
            found.update(flat_metrics(value, prefix=f"{name}."))
    return found


def _params(params: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(v)[:_MAX_PARAM] for k, v in params.items() if v is not None}


def log_run(
    *,
    command: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, Any],
    uri: str | None = None,
    model_dir: Path | None = None,
    files: Sequence[Path] = (),
    register: str | None = None,
    experiment: str = EXPERIMENT,
) -> TrackedRun:
    """Record one command as a run; optionally register its model as a new version.

    Args:
        command: ``train``, ``evaluate`` or ``retrain`` (a run tag, for filtering).
        params: settings; values are stored as strings.
        metrics: results; the finite numbers are logged (see :func:`flat_metrics`), and
            the whole mapping as ``metrics.json``.
        uri: tracking URI; ``None`` picks the default (see ``tracking_uri``).
        model_dir: a saved model directory, logged as the artifact ``model``.
        files: more files to attach (the HTML report, the model card).
        register: registry name; needs ``model_dir``.

    Raises:
        InputError: the store is unreachable or refuses the run.
    """
    uri = tracking_uri(uri)
    mlflow = client(uri)
    try:
        run = mlflow.create_run(experiment_id(mlflow, uri, experiment), tags={"command": command})
        run_id = run.info.run_id
        from mlflow.entities import Metric, Param

        stamp = int(run.info.start_time)
        mlflow.log_batch(
            run_id,
            metrics=[Metric(k, v, stamp, 0) for k, v in flat_metrics(metrics).items()],
            params=[Param(k, v) for k, v in _params(params).items()],
        )
        with tempfile.TemporaryDirectory() as tmp:
            summary = Path(tmp) / "metrics.json"
            summary.write_text(json.dumps(metrics, ensure_ascii=False, default=str), "utf-8")
            mlflow.log_artifact(run_id, str(summary))
        for path in files:
            mlflow.log_artifact(run_id, str(path), artifact_path="reports")
        if model_dir is not None:
            mlflow.log_artifacts(run_id, str(model_dir), artifact_path=MODEL_ARTIFACT)
        version = None
        if register is not None and model_dir is not None:
            from dxkit.tracking.registry import register_version

            version = register_version(mlflow, register, run_id)
        mlflow.set_terminated(run_id, "FINISHED")
    except Exception as exc:
        from dxkit.errors import DxkitError

        if isinstance(exc, DxkitError):
            raise
        raise unreachable(uri, exc) from None
    return TrackedRun(uri, run_id, register if version else None, version)
