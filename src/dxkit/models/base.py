"""The contract every diagnosis model keeps, and the saved-model directory format.

Everything downstream (evaluation, calibration, reports, the CLI) talks to a model only
through :class:`DiagnosisModel`, so a new model is usable everywhere once it keeps it.

A saved model is a directory holding ``dxkit-model.json`` (kind, format version, dxkit
version, labels) plus whatever the model needs; :func:`load_model` reads the manifest,
checks the format version and dispatches to the right class.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, Self, runtime_checkable

import numpy as np

from dxkit.cases.schema import Case
from dxkit.errors import ModelFormatError

MANIFEST = "dxkit-model.json"
FORMAT_VERSION = 1


@runtime_checkable
class DiagnosisModel(Protocol):
    """fit / predict_proba / save / load over :class:`Case` objects."""

    labels: list[str]

    def fit(
        self,
        cases: Sequence[Case],
        y: Sequence[str],
        *,
        differentials: Sequence[dict[str, float] | None] | None = None,
    ) -> Self:
        """Train on cases and labels; ``differentials`` are optional soft targets."""
        ...

    def predict_proba(self, cases: Sequence[Case]) -> np.ndarray:
        """Probabilities, shape (n_cases, n_labels), columns in ``labels`` order."""
        ...

    def save(self, path: Path) -> None:
        """Write everything needed to predict into the directory ``path``."""
        ...

    @classmethod
    def load(cls, path: Path) -> Self:
        """Read a directory written by :meth:`save`, without any training data."""
        ...


def write_manifest(path: Path, kind: str, labels: Sequence[str], **extra: Any) -> None:
    """Write the manifest atomically (temp file + rename) so a crash leaves no half file."""
    from dxkit import __version__

    path.mkdir(parents=True, exist_ok=True)
    payload = {
        "kind": kind,
        "format_version": FORMAT_VERSION,
        "dxkit_version": __version__,
        "trained_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "labels": list(labels),
        **extra,
    }
    atomic_write_text(path / MANIFEST, json.dumps(payload, indent=2, ensure_ascii=False))


def read_manifest(path: Path, kind: str | None = None) -> dict[str, Any]:
    """Read and check a manifest; errors say which file is wrong and how to fix it."""
    manifest = path / MANIFEST
    if not path.is_dir():
        raise ModelFormatError(
            "model directory",
            expected="a directory written by `dxkit train`",
            found=f"{path} does not exist or is not a directory",
            fix="pass the --out directory of a finished `dxkit train` run",
        )
    if not manifest.is_file():
        raise ModelFormatError(
            "model directory",
            expected=f"a {MANIFEST} file in {path}",
            found="no manifest",
            fix="retrain with `dxkit train ... --out DIR` and pass that DIR",
        )
    try:
        data: dict[str, Any] = json.loads(manifest.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise json.JSONDecodeError("not a JSON object", "", 0)
    except json.JSONDecodeError as exc:
        raise ModelFormatError(
            "model manifest",
            expected="valid JSON",
            found=f"unreadable {manifest.name} (line {exc.lineno})",
            fix="retrain the model; the directory is damaged",
        ) from None
    if data.get("format_version") != FORMAT_VERSION:
        raise ModelFormatError(
            "model format",
            expected=f"format_version {FORMAT_VERSION}",
            found=f"format_version {data.get('format_version')!r} "
            f"(written by dxkit {data.get('dxkit_version', '?')})",
            fix="retrain the model with this version of dxkit",
        )
    if kind is not None and data.get("kind") != kind:
        raise ModelFormatError(
            "model kind",
            expected=f"a {kind!r} model",
            found=f"a {data.get('kind')!r} model",
            fix="load it with dxkit.models.load_model, which picks the right class",
        )
    return data


def atomic_write_text(target: Path, text: str) -> None:
    """Write text to ``target`` via a temporary file in the same directory + rename."""
    atomic_write_bytes(target, text.encode("utf-8"))


def atomic_write_bytes(target: Path, data: bytes) -> None:
    """Write bytes atomically: readers see the old file or the new one, never a half.

    The file is created by ``mkstemp`` and so is readable by its owner only (mode 0600):
    outputs may hold patient data, so sharing them is a deliberate step.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_model(path: Path) -> DiagnosisModel:
    """Load any saved dxkit model, dispatching on the manifest's ``kind``.

    A manifest with a ``calibration`` entry wraps the model in its temperature scaling.
    The loaded model carries ``model_id`` (a digest of its manifest, which holds the
    training time, settings, labels and calibration) so every answer names its model.
    """
    manifest = read_manifest(path)
    try:
        model = _load_kind(path, manifest["kind"])
        model_id = hashlib.sha256((path / MANIFEST).read_bytes()).hexdigest()[:12]
        model.model_id = model_id  # type: ignore[attr-defined]
        model.trained_at = manifest.get("trained_at")  # type: ignore[attr-defined]
        calibration = manifest.get("calibration")
        if calibration:
            from dxkit.calibrate.conformal import ConformalPredictor
            from dxkit.calibrate.temperature import CalibratedModel

            report = {k: v for k, v in calibration.items() if k != "temperature"}
            conformal = manifest.get("conformal")
            predictor = ConformalPredictor.from_dict(conformal) if conformal else None
            wrapped = CalibratedModel(model, float(calibration["temperature"]), report, predictor)
            wrapped.model_id, wrapped.trained_at = model_id, manifest.get("trained_at")
            return wrapped
    except ModelFormatError:
        raise
    except Exception as exc:  # a damaged file: missing keys, truncated weights, bad pickle
        raise ModelFormatError(
            "model directory",
            expected=f"a complete model written by `dxkit train` in {path}",
            found=f"a damaged or incomplete model ({type(exc).__name__})",
            fix="retrain the model into a fresh --out directory",
        ) from None
    return model


def _load_kind(path: Path, kind: str) -> DiagnosisModel:
    if kind == "tfidf":
        from dxkit.models.tfidf import TfidfModel

        return TfidfModel.load(path)
    if kind == "rnn":
        from dxkit.models.rnn import RnnModel

        return RnnModel.load(path)
    if kind == "encoder":
        from dxkit.models.encoder import EncoderModel

        return EncoderModel.load(path)
    raise ModelFormatError(
        "model kind",
        expected="one of tfidf, rnn, encoder",
        found=repr(kind),
        fix="upgrade dxkit or retrain the model",
    )
