"""Helpers of the scale tests (a module of its own, so spawned workers and Ray/Spark can
import or pickle them by name, which a ``conftest`` shared by several folders cannot be)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from dxkit.cases.schema import Case
from dxkit.models.base import load_model

FAIL_ID = "syn-2-000007"


def to_parquet(jsonl: Path, out: Path) -> Path:
    """The JSONL cases as one Parquet file with nested columns, in row groups of 10."""
    from dxkit.cases.io import read_cases
    from dxkit.scale.sources import write_cases_parquet

    return write_cases_parquet(read_cases(jsonl), out, row_group_size=10)


def read_scores(path: Path) -> dict[str, dict[str, Any]]:
    """Output rows by case id, from a .jsonl file or a .parquet directory."""
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    else:
        import pyarrow.dataset as ds

        rows = ds.dataset(path, format="parquet").to_table().to_pylist()
    return {str(r["case_id"]): r for r in rows}


def assert_same(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> None:
    """Same ids, top conditions (probabilities to 1e-9), sets and abstentions."""
    assert sorted(a) == sorted(b)
    for case_id, row in a.items():
        other = b[case_id]
        top_a, top_b = json.loads(row["top"]), json.loads(other["top"])
        assert [t[0] for t in top_a] == [t[0] for t in top_b], case_id
        np.testing.assert_allclose([t[1] for t in top_a], [t[1] for t in top_b], atol=1e-9)
        for key in ("diagnosis", "prediction_set", "abstain", "abstain_reason", "model_id"):
            assert row[key] == other[key], (case_id, key)


class FailingModel:
    """The real model, except that it raises on the batch holding case FAIL_ID."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def predict_proba(self, cases: list[Case]) -> Any:
        if any(case.case_id == FAIL_ID for case in cases):
            raise ValueError("simulated crash")
        return self.inner.predict_proba(cases)


def failing_loader(model_dir: Path) -> Any:
    """A loader for ``score_distributed(loader=...)`` whose model dies on one case."""
    return FailingModel(load_model(model_dir))
