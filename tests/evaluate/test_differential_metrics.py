"""DDXPlus differential metrics on small cases computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from dxkit.evaluate.differential import differential_metrics, reference_matrix

LABELS = ["flu", "cold", "covid", "asthma"]
PROBA = np.array(
    [
        [0.60, 0.30, 0.095, 0.005],  # differential {flu, cold, covid}
        [0.10, 0.20, 0.70, 0.00],  # differential {flu, cold, covid}
    ]
)


def test_two_case_example_by_hand() -> None:
    reference = [
        {"flu": 0.5, "covid": 0.3, "pneumonia": 0.2},  # pneumonia unknown to the model
        {"covid": 0.9, "asthma": 0.1},
    ]
    m = differential_metrics(PROBA, LABELS, ["flu", "asthma"], reference)
    # case 0: pred {flu, cold, covid}, ref {flu, covid, pneumonia}: hit 2 -> R 2/3, P 2/3
    # case 1: pred {flu, cold, covid}, ref {covid, asthma}: hit 1 -> R 1/2, P 1/3
    ddr, ddp = (2 / 3 + 1 / 2) / 2, (2 / 3 + 1 / 3) / 2
    assert m["ddr"] == pytest.approx(ddr)
    assert m["ddp"] == pytest.approx(ddp)
    assert m["ddf1"] == pytest.approx(2 * ddr * ddp / (ddr + ddp))
    assert m["gtpa1"] == 0.5  # flu right, asthma wrong
    assert m["gtpa"] == 0.5  # asthma (0.0) is not in the predicted differential


def test_threshold_changes_the_predicted_differential() -> None:
    reference = [{"flu": 1.0}, {"covid": 1.0}]
    low = differential_metrics(PROBA, LABELS, ["asthma", "covid"], reference, threshold=0.001)
    high = differential_metrics(PROBA, LABELS, ["asthma", "covid"], reference, threshold=0.5)
    assert low["gtpa"] == 1.0  # asthma at 0.005 enters with a 0.001 cut
    assert high["gtpa"] == 0.5  # asthma drops out; covid at 0.7 stays
    assert low["ddp"] == pytest.approx((1 / 4 + 1 / 3) / 2)
    assert high["ddp"] == 1.0 and high["ddr"] == 1.0


def test_gtpa_at_k_and_unseen_ground_truth() -> None:
    m = differential_metrics(PROBA, LABELS, ["cold", "measles"], [None, None], ks=(1, 2, 3))
    assert (m["gtpa1"], m["gtpa2"], m["gtpa3"]) == (0.0, 0.5, 0.5)
    assert m["gtpa"] == 0.5  # cold in case 0; measles is never predicted
    assert "ddr" not in m and "ddp" not in m and "ddf1" not in m


def test_none_references_are_skipped_for_ddr() -> None:
    m = differential_metrics(PROBA, LABELS, ["flu", "covid"], [None, {"covid": 1.0}])
    assert m["ddr"] == 1.0
    assert m["ddp"] == pytest.approx(1 / 3)


def test_empty_prediction_set_has_zero_precision() -> None:
    p = np.full((1, 4), 0.25)
    m = differential_metrics(p, LABELS, ["flu"], [{"flu": 1.0}], threshold=0.3)
    assert (m["gtpa"], m["ddr"], m["ddp"], m["ddf1"]) == (0.0, 0.0, 0.0, 0.0)


def test_input_errors() -> None:
    with pytest.raises(ValueError, match=r"labels: expected 4 names .* found 3"):
        differential_metrics(PROBA, LABELS[:3], ["flu", "flu"], [None, None])
    with pytest.raises(ValueError, match=r"reference: expected 2 entries .* found 1"):
        differential_metrics(PROBA, LABELS, ["flu", "flu"], [None])
    with pytest.raises(ValueError, match=r"reference\[1\]: expected condition -> probability"):
        differential_metrics(PROBA, LABELS, ["flu", "flu"], [None, {"flu": 0.0}])
    with pytest.raises(ValueError, match=r"threshold: expected a probability in \(0, 1\]"):
        differential_metrics(PROBA, LABELS, ["flu", "flu"], [None, None], threshold=0.0)
    with pytest.raises(ValueError, match="y_true: expected 2 labels"):
        differential_metrics(PROBA, LABELS, ["flu"], [None, None])
    with pytest.raises(ValueError, match="unique condition names; found 1 duplicate"):
        differential_metrics(PROBA, ["a", "a", "b", "c"], ["a", "b"], [None, None])


def test_reference_matrix_renormalises_known_labels() -> None:
    m = reference_matrix([{"covid": 0.3, "flu": 0.1, "pneumonia": 0.6}, None, {"x": 1.0}], LABELS)
    assert m.shape == (3, 4)
    np.testing.assert_allclose(m[0], [0.25, 0.0, 0.75, 0.0])
    np.testing.assert_array_equal(m[1], 0.0)
    np.testing.assert_array_equal(m[2], 0.0)  # no known label: masked row
