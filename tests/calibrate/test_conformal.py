"""Split conformal prediction sets: coverage, Mondrian groups, RAPS, errors, abstention."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dxkit.calibrate.conformal import (
    ConformalPredictor,
    abstain,
    aps_scores,
    conformal_quantile,
    coverage,
    mean_set_size,
)
from dxkit.errors import InputError


def synthetic(
    n: int, signal: float, seed: int, n_labels: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax of noisy logits with a bump of ``signal`` on the true label."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_labels, n)
    logits = rng.normal(size=(n, n_labels))
    logits[np.arange(n), y] += signal
    proba = np.exp(logits)
    return proba / proba.sum(axis=1, keepdims=True), y


def subset_coverage(sets: list[list[int]], y: np.ndarray, mask: np.ndarray) -> float:
    return coverage([s for s, keep in zip(sets, mask, strict=True) if keep], y[mask])


@pytest.mark.parametrize("alpha", [0.1, 0.2])
@pytest.mark.parametrize("seed", [0, 1])
def test_marginal_coverage_on_held_out_cases(alpha: float, seed: int) -> None:
    proba, y = synthetic(8000, signal=1.5, seed=seed)
    accuracy = float((proba.argmax(axis=1) == y).mean())
    assert 0.3 < accuracy < 0.8  # informative but imperfect
    cp = ConformalPredictor().fit(proba[:4000], y[:4000], alpha, seed=seed)
    sets = cp.predict_sets(proba[4000:])
    assert 1 - alpha - 0.02 <= coverage(sets, y[4000:]) <= 1 - alpha + 0.03
    assert all(len(s) >= 1 for s in sets)


def test_sets_are_sorted_by_probability_and_never_empty() -> None:
    proba, y = synthetic(2000, signal=4.0, seed=5)  # sharp model: many sets would be empty
    sets = ConformalPredictor().fit(proba[:1000], y[:1000], 0.3).predict_sets(proba[1000:])
    for row, s in zip(proba[1000:], sets, strict=True):
        assert s and s[0] == int(np.argmax(row))
        assert list(np.diff(row[s]) <= 0) == [True] * (len(s) - 1)


def test_mondrian_covers_each_group_where_pooled_does_not() -> None:
    easy_p, easy_y = synthetic(4000, signal=4.0, seed=1)
    hard_p, hard_y = synthetic(4000, signal=1.0, seed=2)
    order = np.random.default_rng(3).permutation(8000)
    proba = np.vstack([easy_p, hard_p])[order]
    y = np.concatenate([easy_y, hard_y])[order]
    groups = np.array(["F|18-64"] * 4000 + ["M|65+"] * 4000)[order]
    cal, test = slice(0, 4000), slice(4000, 8000)
    alpha = 0.1
    mondrian = ConformalPredictor().fit(proba[cal], y[cal], alpha, groups=list(groups[cal]))
    pooled = ConformalPredictor().fit(proba[cal], y[cal], alpha)
    m_sets = mondrian.predict_sets(proba[test], groups=list(groups[test]))
    p_sets = pooled.predict_sets(proba[test])
    assert set(mondrian.group_thresholds) == {"F|18-64", "M|65+"}
    assert mondrian.fallback_groups == []
    for key in ("F|18-64", "M|65+"):
        mask = groups[test] == key
        assert subset_coverage(m_sets, y[test], mask) >= 1 - alpha - 0.03
    hard = groups[test] == "M|65+"
    assert subset_coverage(p_sets, y[test], hard) < 1 - alpha - 0.03  # why Mondrian matters


def test_small_groups_fall_back_to_pooled_threshold() -> None:
    proba, y = synthetic(600, signal=2.0, seed=4)
    groups = ["F|0-4"] * 5 + ["M|5-17"] * 595
    cp = ConformalPredictor().fit(proba, y, 0.1, groups=groups)
    assert cp.fallback_groups == ["F|0-4"]
    assert "F|0-4" not in cp.group_thresholds
    row = proba[:1]
    assert cp.predict_sets(row, groups=["F|0-4"]) == cp.predict_sets(row)
    assert cp.predict_sets(row, groups=["unseen"]) == cp.predict_sets(row)


def test_raps_sets_are_no_larger_than_aps() -> None:
    proba, y = synthetic(8000, signal=2.0, seed=0)
    aps = ConformalPredictor().fit(proba[:4000], y[:4000], 0.1)
    raps = ConformalPredictor().fit(proba[:4000], y[:4000], 0.1, lam=0.1, k_reg=1)
    aps_sets, raps_sets = aps.predict_sets(proba[4000:]), raps.predict_sets(proba[4000:])
    assert mean_set_size(raps_sets) <= mean_set_size(aps_sets)
    assert coverage(raps_sets, y[4000:]) >= 0.88


def test_raps_with_zero_lambda_is_aps() -> None:
    proba, y = synthetic(300, signal=2.0, seed=6)
    np.testing.assert_array_equal(
        aps_scores(proba, y, seed=3), aps_scores(proba, y, lam=0.0, k_reg=3, seed=3)
    )


def test_quantile_uses_finite_sample_correction() -> None:
    scores = np.arange(1, 101) / 100
    assert conformal_quantile(scores, 0.1) == pytest.approx(0.91)  # ceil(101 * 0.9) = 91


@pytest.mark.parametrize("alpha", [1.5, 0.0, 1.0, -0.1])
def test_alpha_outside_unit_interval_is_rejected(alpha: float) -> None:
    with pytest.raises(InputError, match=r"alpha: expected a number in \(0, 1\); found"):
        conformal_quantile(np.zeros(100), alpha)


def test_alpha_error_message_is_exact() -> None:
    msg = r"^alpha: expected a number in \(0, 1\); found 1\.5\. Fix: pass e\.g\. --alpha 0\.1$"
    with pytest.raises(InputError, match=msg):
        conformal_quantile(np.zeros(100), 1.5)
    with pytest.raises(InputError, match=msg):
        ConformalPredictor().fit(np.full((5, 2), 0.5), np.zeros(5, dtype=int), 1.5)


def test_too_small_calibration_set_is_rejected() -> None:
    msg = (
        r"^calibration set too small for alpha=0\.01: expected at least 99 cases; "
        r"found 40\. Fix: use more calibration cases or a larger alpha$"
    )
    with pytest.raises(InputError, match=msg):
        conformal_quantile(np.zeros(40), 0.01)
    conformal_quantile(np.zeros(99), 0.01)  # exactly enough


def test_round_trip_through_json_gives_identical_sets() -> None:
    proba, y = synthetic(1000, signal=2.0, seed=7)
    groups = ["F|65+" if i % 3 else "M|0-4" for i in range(1000)]
    cp = ConformalPredictor().fit(
        proba[:600], y[:600], 0.1, groups=groups[:600], lam=0.05, k_reg=2, seed=11
    )
    again = ConformalPredictor.from_dict(json.loads(json.dumps(cp.to_dict())))
    assert again == cp
    assert again.predict_sets(proba[600:], groups[600:]) == cp.predict_sets(
        proba[600:], groups[600:]
    )


LABELS = [f"Condition {i}" for i in range(7)] + ["Pulmonary embolism"]


def test_abstains_when_set_is_too_large() -> None:
    row = np.full(8, 1 / 8)
    refer, reason = abstain(row, list(range(7)), LABELS, set(), max_set_size=5)
    assert refer
    assert reason == "prediction set holds 7 conditions (> 5): the model cannot narrow it down"


def test_abstains_when_red_flag_is_in_set_but_not_first() -> None:
    row = np.array([0.5, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.15])
    refer, reason = abstain(row, [0, 7, 1], LABELS, {"Pulmonary embolism"})
    assert refer
    assert reason == (
        "Pulmonary embolism is in the 90% set but not the top answer: rule it out first"
    )
    _, reason80 = abstain(row, [0, 7], LABELS, {"Pulmonary embolism"}, level=0.8)
    assert "in the 80% set" in reason80


def test_does_not_abstain_when_red_flag_is_top_or_absent() -> None:
    top = np.array([0.05, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.6])
    assert abstain(top, [7, 1], LABELS, {"Pulmonary embolism"}) == (False, "")
    row = np.array([0.5, 0.2, 0.1, 0.05, 0.05, 0.04, 0.03, 0.03])
    assert abstain(row, [0, 1, 2], LABELS, {"Pulmonary embolism"}) == (False, "")


def test_helpers() -> None:
    assert coverage([[0, 1], [2], [1]], np.array([1, 0, 1])) == pytest.approx(2 / 3)
    assert mean_set_size([[0, 1], [2], [1]]) == pytest.approx(4 / 3)


def test_bad_proba_shape_is_rejected() -> None:
    with pytest.raises(InputError, match="proba: expected a 2-D array"):
        aps_scores(np.array([0.5, 0.5]), np.array([0]))


def test_another_confidence_equals_a_fresh_fit_at_that_alpha() -> None:
    proba, y = synthetic(3000, signal=1.5, seed=8)
    groups = ["F|18-44" if i % 2 else "M|65+" for i in range(3000)]
    cp = ConformalPredictor().fit(proba[:1500], y[:1500], 0.1, groups=groups[:1500], lam=0.02)
    saved = ConformalPredictor.from_dict(json.loads(json.dumps(cp.to_dict())))
    strict = saved.at_alpha(0.05)
    fresh = ConformalPredictor().fit(proba[:1500], y[:1500], 0.05, groups=groups[:1500], lam=0.02)
    assert strict.alpha == 0.05 and strict.threshold == fresh.threshold
    assert strict.group_thresholds == fresh.group_thresholds
    held = strict.predict_sets(proba[1500:], groups[1500:])
    assert coverage(held, y[1500:]) >= 0.94  # 95% sets cover more ...
    assert mean_set_size(held) > mean_set_size(cp.predict_sets(proba[1500:], groups[1500:]))
    assert saved.at_alpha(0.1) is saved


def test_another_confidence_needs_the_saved_scores() -> None:
    proba, y = synthetic(400, signal=2.0, seed=9)
    old = ConformalPredictor().fit(proba, y, 0.1).to_dict()
    del old["scores"], old["score_groups"]  # a manifest written before they were kept
    with pytest.raises(InputError, match=r"90%, the only level this model's calibration kept"):
        ConformalPredictor.from_dict(old).at_alpha(0.05)
    with pytest.raises(InputError, match="calibration set too small"):
        ConformalPredictor().fit(proba[:30], y[:30], 0.2).at_alpha(0.01)
