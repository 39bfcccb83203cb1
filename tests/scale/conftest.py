"""Fixtures of the scale tests: a tiny calibrated TF-IDF model and 50 synthetic cases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dxkit.cases.io import write_cases_jsonl
from dxkit.cases.synthetic import CohortConfig, NoiseConfig, generate_cohort

CONDITIONS = (
    "pulmonary_embolism",
    "acute_myocardial_infarction",
    "unstable_angina",
    "stable_angina",
    "atrial_fibrillation",
    "psvt",
)


def _cohort(n: int, seed: int) -> list[Any]:
    config = CohortConfig(
        n=n, seed=seed, conditions=CONDITIONS, noise=NoiseConfig(implausible_rate=0.0)
    )
    return generate_cohort(config)


@pytest.fixture(scope="session")
def scale_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six cardiac/respiratory conditions, 240 cases: calibrated with conformal sets (~3 s)."""
    from rich.console import Console

    from dxkit.pipeline import fit_model

    model, _ = fit_model("tfidf", _cohort(240, 1), seed=0, console=Console(quiet=True), soft=False)
    out = tmp_path_factory.mktemp("scale-model") / "model"
    model.save(out)
    return out


@pytest.fixture(scope="session")
def scale_cases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """50 unlabeled cases as JSONL (seed 2: ids syn-2-000000 ... syn-2-000049)."""
    path = tmp_path_factory.mktemp("scale-cases") / "cases.jsonl"
    write_cases_jsonl(path, [lc.case for lc in _cohort(50, 2)])
    return path
