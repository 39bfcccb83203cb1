"""The default model: TF-IDF + logistic regression trained on the synthetic cohort.

It is trained on first use (about half a minute on 2 cores) and cached per dxkit and
knowledge-base version under ``$DXKIT_HOME`` (default ``~/.cache/dxkit``), so
``dxkit diagnose`` works on a fresh machine with no download and no data set.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from dxkit import __version__
from dxkit.cases.synthetic import CohortConfig, NoiseConfig, generate_cohort
from dxkit.knowledge.loader import load_knowledge_base
from dxkit.models.base import DiagnosisModel, load_model

DEFAULT_COHORT = CohortConfig(n=3000, seed=20261123, noise=NoiseConfig(implausible_rate=0.0))
# Part of the cache key: bump it whenever how the default model is trained or saved
# changes (conformal sets, then their calibration scores, were added), so a cached
# older model is retrained instead of silently lacking what this version relies on.
RECIPE = 3


def dxkit_home() -> Path:
    """Where dxkit caches its default model (``$DXKIT_HOME`` or ``~/.cache/dxkit``)."""
    return Path(os.environ.get("DXKIT_HOME", Path.home() / ".cache" / "dxkit"))


def default_model_dir() -> Path:
    """Cache directory of the default model for this dxkit and knowledge-base version."""
    kb = load_knowledge_base()
    name = f"default-model-{__version__}-kb{kb.version}-{len(kb.conditions)}-r{RECIPE}"
    return dxkit_home() / name


def train_default_model(out: Path, config: CohortConfig | None = None) -> DiagnosisModel:
    """Generate the synthetic cohort, fit the default model and save it into ``out``."""
    from rich.console import Console

    from dxkit.pipeline import fit_model

    cohort = generate_cohort(config or DEFAULT_COHORT)
    model, _ = fit_model("tfidf", cohort, seed=0, console=Console(quiet=True), soft=False)
    model.save(out)
    return model


def load_default_model() -> DiagnosisModel:
    """Load the cached default model, training and caching it first if needed.

    Training writes into a temporary sibling directory that is renamed into place, so an
    interrupted run never leaves a half-written model behind.
    """
    target = default_model_dir()
    if (target / "dxkit-model.json").is_file():
        return load_model(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".training-"))
    try:
        model = train_default_model(tmp / "model")
        if not target.exists():
            os.replace(tmp / "model", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return model
