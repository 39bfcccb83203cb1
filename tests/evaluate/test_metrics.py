"""Hand-computed examples and scikit-learn cross-checks for the core metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score

from dxkit.evaluate.metrics import (
    balanced_accuracy,
    brier_score,
    check_inputs,
    expected_calibration_error,
    macro_f1,
    negative_log_likelihood,
    reliability_bins,
    top_k_accuracy,
)

P3 = np.array(
    [
        [0.6, 0.3, 0.1],  # true 0: rank 1
        [0.5, 0.3, 0.2],  # true 1: rank 2
        [0.5, 0.3, 0.2],  # true 2: rank 3
        [0.1, 0.2, 0.7],  # true 2: rank 1
    ]
)
Y3 = np.array([0, 1, 2, 2])


def test_top_k_accuracy_counts_rank() -> None:
    assert top_k_accuracy(Y3, P3, 1) == 0.5
    assert top_k_accuracy(Y3, P3, 2) == 0.75
    assert top_k_accuracy(Y3, P3, 3) == 1.0
    assert top_k_accuracy(Y3, P3, 10) == 1.0  # clipped to the number of classes


def test_top_k_unseen_label_is_always_wrong() -> None:
    assert top_k_accuracy([-1, 0], [[1.0, 0.0], [1.0, 0.0]], 2) == 0.5


def test_top_k_rejects_bad_k() -> None:
    with pytest.raises(ValueError, match="k: expected an integer >= 1; found 0"):
        top_k_accuracy(Y3, P3, 0)


def test_shape_mismatch_is_reported() -> None:
    with pytest.raises(ValueError, match=r"y_true: expected 4 labels .* found 3 labels"):
        top_k_accuracy(Y3[:3], P3)


def test_rows_must_sum_to_one() -> None:
    with pytest.raises(ValueError, match=r"rows summing to 1 .* row 1 sums to 1\.5"):
        check_inputs([0, 1], [[0.5, 0.5], [1.0, 0.5]])


def test_labels_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"class indices in \[0, 3\) .* values from 0 to 3"):
        check_inputs([0, 3], P3[:2])
    with pytest.raises(ValueError, match="values from -2"):
        check_inputs([-2, 0], P3[:2])


def test_non_integer_labels_and_bad_proba_are_rejected() -> None:
    with pytest.raises(ValueError, match="expected integer class indices; found dtype float64"):
        check_inputs([0.0, 1.0], P3[:2])
    with pytest.raises(ValueError, match=r"2-D array .* found shape \(3,\)"):
        check_inputs([0], [0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="finite probabilities"):
        check_inputs([0], [[math.nan, 1.0]])
    with pytest.raises(ValueError, match="non-negative"):
        check_inputs([0], [[-0.5, 1.5]])
    with pytest.raises(ValueError, match="at least one case"):
        check_inputs(np.array([], dtype=int), np.zeros((0, 2)))


def test_macro_f1_by_hand() -> None:
    # class 0: P=1, R=1/2 -> 2/3; class 1: P=1/2, R=1 -> 2/3; class 2: 1 -> mean 7/9
    assert macro_f1([0, 0, 1, 2], [0, 1, 1, 2]) == pytest.approx(7 / 9)


def test_macro_f1_only_over_present_classes() -> None:
    # class 5 absent from both vectors must not drag the mean down
    assert macro_f1([0, 1], [0, 1], n_classes=6) == 1.0
    # a class predicted but never true scores 0
    assert macro_f1([0, 0], [0, 1]) == pytest.approx((2 / 3 + 0) / 2)
    with pytest.raises(ValueError, match=r"y_pred: expected class indices in \[0, 2\)"):
        macro_f1([0, 1], [0, -1], n_classes=2)


def test_balanced_accuracy_by_hand() -> None:
    # recall class 0 = 2/3, class 1 = 1 -> 5/6; class 2 predicted but absent from y_true
    assert balanced_accuracy([0, 0, 0, 1], [0, 0, 1, 1]) == pytest.approx(5 / 6)
    assert balanced_accuracy([0, 0, 1], [2, 0, 1]) == pytest.approx(0.75)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_macro_f1_and_balanced_accuracy_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 8, size=200)
    pred = np.where(rng.random(200) < 0.5, y, rng.integers(0, 10, size=200))
    labels = np.union1d(y, pred)
    expected_f1 = f1_score(y, pred, labels=labels, average="macro", zero_division=0)
    assert macro_f1(y, pred) == pytest.approx(expected_f1)
    with pytest.warns(UserWarning):  # sklearn warns on classes predicted but not true
        expected_ba = balanced_accuracy_score(y, pred)
    assert balanced_accuracy(y, pred) == pytest.approx(expected_ba)


def test_ece_zero_when_perfectly_calibrated() -> None:
    # 4 cases at confidence 0.75, 3 right; 2 at confidence 1.0, both right
    p = [[0.75, 0.25]] * 4 + [[1.0, 0.0]] * 2
    y = [0, 0, 0, 1, 0, 0]
    assert expected_calibration_error(y, p, n_bins=10) == pytest.approx(0.0)


def test_ece_by_hand() -> None:
    # bin (0.5, 1]: conf 0.8 and 0.7 -> mean 0.75, accuracy 1/2 -> ECE 0.25
    p = [[0.8, 0.2], [0.3, 0.7]]
    assert expected_calibration_error([0, 0], p, n_bins=2) == pytest.approx(0.25)
    # with 10 bins they split: |1 - 0.8| * 1/2 + |0 - 0.7| * 1/2 = 0.45
    assert expected_calibration_error([0, 0], p, n_bins=10) == pytest.approx(0.45)


def test_reliability_bins_are_right_closed() -> None:
    b = reliability_bins([0, 0, 1], [[0.5, 0.5], [0.6, 0.4], [0.0, 1.0]], n_bins=2)
    # 0.5 belongs to (0, 0.5], 0.6 and 1.0 to (0.5, 1]
    assert b.count.tolist() == [1, 2]
    assert b.confidence.tolist() == pytest.approx([0.5, 0.8])
    assert b.accuracy.tolist() == [1.0, 1.0]
    assert b.lower.tolist() == [0.0, 0.5] and b.upper.tolist() == [0.5, 1.0]
    with pytest.raises(ValueError, match="n_bins: expected an integer >= 1"):
        reliability_bins([0], [[1.0, 0.0]], n_bins=0)


def test_brier_by_hand() -> None:
    assert brier_score([0], [[1.0, 0.0, 0.0]]) == 0.0
    assert brier_score([1], [[1.0, 0.0, 0.0]]) == 2.0
    # (0.5-1)^2 + 0.5^2 = 0.5
    assert brier_score([0], [[0.5, 0.5]]) == pytest.approx(0.5)
    # unseen label: sum p^2 + 1
    assert brier_score([-1], [[0.5, 0.5]]) == pytest.approx(1.5)


def test_nll_by_hand() -> None:
    assert negative_log_likelihood([0, 1], [[0.5, 0.5], [0.75, 0.25]]) == pytest.approx(
        (math.log(2) + math.log(4)) / 2
    )
    assert negative_log_likelihood([1], [[1.0, 0.0]], eps=1e-12) == pytest.approx(-math.log(1e-12))
    assert negative_log_likelihood([-1], [[1.0, 0.0]]) == pytest.approx(-math.log(1e-12))
    with pytest.raises(ValueError, match=r"eps: expected a float in \(0, 1\)"):
        negative_log_likelihood([0], [[1.0, 0.0]], eps=0.0)
