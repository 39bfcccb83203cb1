"""The one-call evaluation report: keys, rounding, unseen labels and optional parts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from dxkit.evaluate.summary import evaluate_predictions, round_floats

LABELS = ["flu", "cold", "covid"]
PROBA = np.array(
    [
        [0.7, 0.2, 0.1],
        [0.1, 0.8, 0.1],
        [0.5, 0.3, 0.2],
        [0.3, 0.3, 0.4],
    ]
)


def test_core_keys_and_values() -> None:
    r = evaluate_predictions(PROBA, LABELS, ["flu", "cold", "covid", "covid"])
    assert r["n"] == 4 and r["n_unseen_labels"] == 0
    assert r["top1"] == 0.75  # case 2 ranks covid third
    assert r["top3"] == 1.0 and r["top5"] == 1.0
    assert r["nll"] == round(-np.mean(np.log([0.7, 0.8, 0.2, 0.4])), 4)
    assert set(r) == {
        "n", "n_unseen_labels", "n_unseen_cases", "top1", "top3", "top5", "macro_f1",
        "balanced_accuracy", "ece", "brier", "nll",
    }  # fmt: skip
    json.dumps(r)  # JSON-ready


def test_unseen_labels_are_misses_not_crashes() -> None:
    r = evaluate_predictions(PROBA, LABELS, ["flu", "measles", "measles", "mumps"])
    assert (r["n_unseen_labels"], r["n_unseen_cases"]) == (2, 3)
    assert r["top1"] == 0.25 and r["top3"] == 0.25
    # three unseen cases each add -log(1e-12)
    assert r["nll"] == round((-math.log(0.7) - 3 * math.log(1e-12)) / 4, 4)


def test_floats_are_rounded() -> None:
    r = evaluate_predictions(PROBA, LABELS, ["flu", "cold", "flu", "covid"])
    for key in ("ece", "brier", "nll", "macro_f1", "balanced_accuracy"):
        assert r[key] == round(r[key], 4)
    assert round_floats({"x": [np.float64(1 / 3), np.int64(2), math.inf]}) == {
        "x": [0.3333, 2, None]
    }


def test_reference_adds_differential_metrics() -> None:
    ref = [{"flu": 1.0}, {"cold": 0.5, "covid": 0.5}, None, None]
    r = evaluate_predictions(PROBA, LABELS, ["flu", "cold", "covid", "covid"], reference=ref)
    assert r["gtpa1"] == 0.75 and r["gtpa"] == 1.0
    # all three labels pass 0.01: case 0 R=1 P=1/3; case 1 R=1 P=2/3
    assert r["ddr"] == 1.0 and r["ddp"] == 0.5
    assert r["ddf1"] == round(2 * 0.5 / 1.5, 4)


def test_subgroups_are_added_when_groups_given() -> None:
    r = evaluate_predictions(
        PROBA, LABELS, ["flu", "cold", "covid", "covid"], sex=["f", "f", "m", "m"], min_n=2
    )
    assert r["subgroups"]["sex"]["top1"]["values"] == {"f": 1.0, "m": 0.5}
    assert r["subgroups"]["largest_gap"]["top1"]["gap"] == 0.5
    json.dumps(r)


def test_shape_and_label_errors() -> None:
    with pytest.raises(ValueError, match=r"expected shape \(n_cases, 2\) matching labels"):
        evaluate_predictions(PROBA, LABELS[:2], ["flu"] * 4)
    with pytest.raises(ValueError, match="expected unique condition names"):
        evaluate_predictions(PROBA, ["a", "a", "b"], ["a"] * 4)
    with pytest.raises(ValueError, match="y_true: expected 4 labels"):
        evaluate_predictions(PROBA, LABELS, ["flu"])
