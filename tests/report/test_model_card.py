"""The Markdown model card: numbers from the manifest and metrics, sections, atomic write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dxkit.errors import ModelFormatError
from dxkit.models.base import MANIFEST, write_manifest
from dxkit.report.differential import DISCLAIMER
from dxkit.report.model_card import (
    ModelInfo,
    model_info,
    render_model_card,
    subgroup_rows,
    write_model_card,
)


def _metrics() -> dict[str, Any]:
    return {
        "n": 120, "n_rejected": 3, "top1": 0.7312, "top3": 0.9, "ece": 0.0312,
        "alpha": 0.1, "coverage": 0.9083, "mean_set_size": 2.25, "abstain_rate": 0.12,
        "subgroups": {
            "age_band": {"top1": {"values": {"18-39": 0.8, "65+": 0.55},
                                  "n": {"18-39": 60, "65+": 60}},
                         "ece": {"values": {"18-39": 0.02, "65+": 0.09},
                                 "n": {"18-39": 60, "65+": 60}}},
            "largest_gap": {
                "top1": {"attribute": "age_band", "gap": 0.25, "max_group": "18-39",
                         "min_group": "65+"},
                "ece": {"attribute": "age_band", "gap": 0.07, "max_group": "65+",
                        "min_group": "18-39"},
            },
        },
        "coverage_by_group": {
            "age_band": {"coverage": {"values": {"18-39": 0.97, "65+": 0.84},
                                      "n": {"18-39": 60, "65+": 60}}},
            "largest_gap": {},
            "under_covered": [{"attribute": "age_band", "group": "65+", "coverage": 0.84,
                               "n": 60, "small": False}],
        },
    }  # fmt: skip


def _saved(tmp_path: Path) -> Path:
    write_manifest(
        tmp_path,
        "tfidf",
        ["Asthma", "Pneumonia", "Cystitis"],
        config={"C": 10.0, "word_ngrams": [1, 2]},
        calibration={"temperature": 1.7, "n": 30.0, "ece_before": 0.21, "ece_after": 0.04,
                     "nll_before": 0.9, "nll_after": 0.5},
        conformal={"alpha": 0.1, "n_calibration": 30},
    )  # fmt: skip
    return tmp_path


def test_model_info_reads_the_manifest(tmp_path: Path) -> None:
    info = model_info(_saved(tmp_path))
    assert (info.kind, info.n_labels, info.temperature, info.alpha) == ("tfidf", 3, 1.7, 0.1)
    assert info.config == {"C": 10.0, "word_ngrams": [1, 2]}
    assert "temperature" not in info.calibration and info.calibration["ece_before"] == 0.21
    with pytest.raises(ModelFormatError, match="model directory: expected a directory"):
        model_info(tmp_path / "missing")


def test_card_has_sections_numbers_and_disclaimer(tmp_path: Path) -> None:
    card = render_model_card(model_info(_saved(tmp_path)), _metrics(), "held-out.jsonl")
    for heading in ("Intended use", "Not intended use", "Model details", "Training data",
                    "Evaluation data and metrics", "Subgroup results", "Calibration",
                    "Conformal coverage", "Limitations", "Disclaimer"):  # fmt: skip
        assert f"## {heading}" in card
    assert DISCLAIMER in card and "not a substitute for clinical judgement" in card
    assert "| top1 | 0.7312 |" in card
    assert "Evaluated on held-out.jsonl: 120 cases scored, 3 rejected" in card
    assert "| `C` | `10.0` |" in card
    assert "T = 1.7000, fitted on 30 held-out cases: ECE 0.2100 -> 0.0400" in card
    assert "measured coverage 0.9083, mean set size 2.2500" in card
    assert "Under-covered: age_band 65+: 0.8400" in card
    assert "| age_band | 65+ (under-covered) | 60 | 0.5500 **worst** | 0.0900 **worst** |" in card
    assert "$" not in card  # every template placeholder was filled


def test_card_without_calibration_or_sets_says_so() -> None:
    info = ModelInfo("m", "rnn", "0.1.0", 5)
    card = render_model_card(info, {"n": 10, "top1": 0.5, "ece": 0.2}, "synthetic")
    assert "Not calibrated (no temperature). ECE on the evaluation data: 0.2000." in card
    assert "No conformal prediction sets" in card
    assert "No subgroup results" in card


def test_subgroup_rows_mark_no_worst_group_without_a_gap() -> None:
    metrics = _metrics()
    metrics["subgroups"]["largest_gap"]["top1"]["gap"] = 0.0
    rows = {r.group: r for r in subgroup_rows(metrics)}
    assert rows["65+"].worst == frozenset({"ece"}) and rows["65+"].under_covered
    assert rows["18-39"].values == {"top1": 0.8, "ece": 0.02, "coverage": 0.97}


def test_write_model_card_atomically(tmp_path: Path) -> None:
    out = tmp_path / "cards" / "model.md"
    write_model_card(out, model_info(_saved(tmp_path)), _metrics(), "x")
    assert out.read_text(encoding="utf-8").startswith("# Model card: dxkit tfidf model")
    assert sorted(p.name for p in out.parent.iterdir()) == ["model.md"]
    assert json.loads((tmp_path / MANIFEST).read_text())["kind"] == "tfidf"
