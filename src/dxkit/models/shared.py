"""Helpers both baseline models share: labels, soft targets, threads, safe directories."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from dxkit.cases.schema import Case
from dxkit.errors import InputError, ModelFormatError
from dxkit.features.tabular import tabular_feature_names
from dxkit.models.base import MANIFEST


def cpu_threads(requested: int = 0) -> int:
    """Threads for numeric work: ``requested``, else half the usable CPUs (at most 4).

    Why so few: a small GRU's matrices and L-BFGS's vector updates are too small to gain
    from many threads, and when another process holds a core, oversubscribed threads spin:
    on a 2-core machine this made a GRU training step twentyfold and a logistic-regression
    fit twice slower in our measurements.
    """
    if requested > 0:
        return requested
    return max(1, min(4, usable_cpus() // 2))


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask on Linux, else the CPU count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextmanager
def sklearn_fast_path() -> Iterator[None]:
    """scikit-learn without its per-call input checks, for fitted models' predictions.

    The inputs come from our own featurizers (finite, well-typed), and at serving time,
    one case per call, the checks are a large share of the time.
    """
    import sklearn

    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        yield


def not_fitted_error(model: str) -> InputError:
    """The error of predicting or saving before fitting."""
    return InputError(
        model,
        expected="a fitted model",
        found="a model that was neither fitted nor loaded",
        fix="call fit(cases, labels) or load a saved model directory first",
    )


def training_labels(
    cases: Sequence[Case],
    y: Sequence[str],
    differentials: Sequence[dict[str, float] | None] | None,
) -> list[str]:
    """Check training inputs and return the sorted label set (labels and differential keys).

    Sorted so that two runs on the same data give the same column order whatever the
    order of the cases.

    Raises:
        InputError: no cases, length mismatch, or fewer than two distinct labels.
    """
    if len(cases) == 0:
        raise InputError(
            "training set",
            expected="at least one labelled case per diagnosis",
            found="no cases",
            fix="check the data path and filters; the training set is empty",
        )
    if len(cases) != len(y):
        raise InputError(
            "training labels",
            expected=f"one label per case ({len(cases)})",
            found=f"{len(y)} labels",
            fix="pass labels aligned with the cases",
        )
    if differentials is not None and len(differentials) != len(cases):
        raise InputError(
            "training differentials",
            expected=f"one differential (or None) per case ({len(cases)})",
            found=f"{len(differentials)} differentials",
            fix="pass differentials aligned with the cases, None where unknown",
        )
    labels = {str(v) for v in y}
    for diff in differentials or []:
        labels.update(str(k) for k in diff or {})
    if len(labels) < 2:
        raise InputError(
            "training labels",
            expected="at least two distinct diagnoses",
            found=f"{len(labels)} distinct label(s)",
            fix="add cases of other diagnoses; a one-class model cannot rank a differential",
        )
    return sorted(labels)


def soft_targets(
    labels: Sequence[str],
    y: Sequence[str],
    differentials: Sequence[dict[str, float] | None] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised differentials as a (n_cases, n_labels) matrix, and which rows had one.

    Rows without a differential (or with an all-zero one) are the one-hot ground truth.

    Raises:
        InputError: a negative or non-finite probability.
    """
    position = {label: i for i, label in enumerate(labels)}
    targets = np.zeros((len(y), len(labels)))
    has_soft = np.zeros(len(y), dtype=bool)
    for i, label in enumerate(y):
        diff = differentials[i] if differentials is not None else None
        for key, prob in (diff or {}).items():
            if not (math.isfinite(prob) and prob >= 0):
                raise InputError(
                    "training differential",
                    expected="probabilities that are finite and >= 0",
                    found=f"{prob!r} for {key!r} in case #{i}",
                    fix="repair or drop that differential",
                )
            targets[i, position[str(key)]] += prob
        total = targets[i].sum()
        if total > 0:
            targets[i] /= total
            has_soft[i] = True
        else:
            targets[i, position[str(label)]] = 1.0
    return targets, has_soft


def require_files(path: Path, names: Sequence[str]) -> None:
    """Raise a :class:`ModelFormatError` naming the first file missing from ``path``."""
    for name in names:
        if not (path / name).is_file():
            raise ModelFormatError(
                "model directory",
                expected=f"{name} in {path}",
                found=f"no {name}",
                fix="the directory is incomplete: retrain and save the model again",
            )


def check_tabular_layout(manifest: dict[str, Any]) -> None:
    """Refuse a model trained on another tabular layout (the observation catalogue changed)."""
    saved = manifest.get("tabular_features")
    if saved is not None and list(saved) != tabular_feature_names():
        raise ModelFormatError(
            "model tabular features",
            expected=f"the {len(tabular_feature_names())} features of this dxkit version",
            found=f"{len(saved)} features in a different layout",
            fix="retrain the model with this version of dxkit",
        )


def check_model_out(path: Path) -> None:
    """Refuse an output path that is a file or a directory of other files.

    Called before training too, so a mistyped ``--out`` fails in a second, not after
    minutes of training.
    """
    if path.exists() and not (
        path.is_dir() and ((path / MANIFEST).is_file() or not any(path.iterdir()))
    ):
        found = "a file" if path.is_file() else "a directory of other files"
        raise InputError(
            "model output path",
            expected="a new directory, an empty one or a saved model to overwrite",
            found=f"{path} is {found}",
            fix="choose another --out directory",
        )


@contextmanager
def atomic_model_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; on success it replaces ``path``.

    Readers see the old model or the new one, never a half-written mix, and a failed save
    leaves the old model intact. An existing ``path`` is replaced only if it is empty or
    holds a saved model, so a mistyped path can never wipe unrelated files.

    Raises:
        InputError: ``path`` exists and is a file or a directory of other files.
    """
    check_model_out(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.{uuid.uuid4().hex}.old")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
