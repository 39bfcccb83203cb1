"""Per-group metrics, the largest gap, and the fairlearn / plain-loop equivalence."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np
import pytest

from dxkit.evaluate import subgroups
from dxkit.evaluate.metrics import brier_score, top_k_accuracy
from dxkit.evaluate.subgroups import metric_by_group, subgroup_table


def _top1(y: np.ndarray, p: np.ndarray) -> float:
    return top_k_accuracy(y, p, 1)


def _cohort() -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """12 women all right, 12 men half right, 3 children all wrong."""
    right, wrong = [0.9, 0.1], [0.2, 0.8]
    proba = [right] * 12 + [right] * 6 + [wrong] * 6 + [wrong] * 3
    y = np.zeros(27, dtype=int)
    sex = ["female"] * 12 + ["male"] * 12 + ["female"] * 3
    age = ["18-39"] * 12 + ["40-64"] * 12 + ["0-17"] * 3
    return y, np.array(proba), sex, age


def test_values_n_and_gap() -> None:
    y, p, _, age = _cohort()
    r = metric_by_group(_top1, y, p, age, min_n=10)
    assert r.values == {"0-17": 0.0, "18-39": 1.0, "40-64": 0.5}
    assert r.n == {"0-17": 3, "18-39": 12, "40-64": 12}
    # the 3 children are below min_n, so the gap is between the adult bands
    assert r.gap == pytest.approx(0.5)
    assert (r.max_group, r.min_group) == ("18-39", "40-64")


def test_small_groups_join_the_gap_when_min_n_allows() -> None:
    y, p, _, age = _cohort()
    r = metric_by_group(_top1, y, p, age, min_n=3)
    assert r.gap == 1.0 and r.min_group == "0-17"


def test_no_gap_with_a_single_qualifying_group() -> None:
    y, p, _, age = _cohort()
    r = metric_by_group(_top1, y, p, age, min_n=13)
    assert (r.gap, r.max_group, r.min_group) == (None, None, None)


def test_fallback_without_fairlearn_gives_same_values(monkeypatch: pytest.MonkeyPatch) -> None:
    y, p, _, age = _cohort()
    with_lib = metric_by_group(brier_score, y, p, age)
    real_import = builtins.__import__

    def no_fairlearn(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("fairlearn"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_fairlearn)
    without = metric_by_group(brier_score, y, p, age)
    assert without.values == pytest.approx(with_lib.values)
    assert without.values["18-39"] == pytest.approx(0.02)  # (0.1)^2 * 2


def test_plain_loop_matches_metric_on_the_subset() -> None:
    y, p, sex, _ = _cohort()
    g = np.asarray(sex, dtype=object)
    loop = subgroups._by_group_loop(_top1, y, p, g)
    assert loop["male"] == 0.5
    assert loop["female"] == pytest.approx(12 / 15)


def test_groups_length_is_checked() -> None:
    y, p, sex, _ = _cohort()
    with pytest.raises(ValueError, match=r"groups: expected 27 entries .* found 26"):
        metric_by_group(_top1, y, p, sex[:-1])
    with pytest.raises(ValueError, match="min_n: expected an integer >= 1"):
        metric_by_group(_top1, y, p, sex, min_n=0)


def test_subgroup_table_flags_largest_gap_per_metric() -> None:
    y, p, sex, age = _cohort()
    t = subgroup_table(y, p, sex, age, min_n=10)
    assert set(t) == {"sex", "age_band", "largest_gap"}
    assert set(t["sex"]) == {"top1", "top3", "macro_f1", "ece", "brier"}
    # sex gap in top-1: 12/15 - 1/2 = 0.3; age gap: 1 - 0.5 = 0.5 -> age band flagged
    assert t["sex"]["top1"]["gap"] == pytest.approx(0.3)
    assert t["largest_gap"]["top1"] == {
        "attribute": "age_band",
        "gap": pytest.approx(0.5),
        "max_group": "18-39",
        "min_group": "40-64",
    }
    # top-3 over two classes is always right: zero gap, still reported
    assert t["largest_gap"]["top3"]["gap"] == 0.0


def test_subgroup_table_with_one_attribute() -> None:
    y, p, sex, _ = _cohort()
    t = subgroup_table(y, p, sex=sex)
    assert set(t) == {"sex", "largest_gap"}
    assert t["sex"]["ece"]["n"] == {"female": 15, "male": 12}


def _sets_cohort() -> tuple[list[list[int]], np.ndarray, np.ndarray, list[str], list[str]]:
    """12 women always covered by 1-label sets, 12 men covered half the time by 2 labels."""
    y, p, sex, age = _cohort()
    sets = [[0]] * 12 + [[0, 1]] * 6 + [[1]] * 6 + [[0]] * 3
    return sets, y, p, sex, age


def test_coverage_by_group_values_gaps_and_flags() -> None:
    sets, y, p, sex, age = _sets_cohort()
    r = subgroups.coverage_by_group(sets, y, p, 0.1, sex=sex, age_band=age, min_n=10)
    assert r["target"] == pytest.approx(0.9) and r["flag_below"] == pytest.approx(0.87)
    assert r["age_band"]["coverage"]["values"] == {"0-17": 1.0, "18-39": 1.0, "40-64": 0.5}
    assert r["age_band"]["mean_set_size"]["values"]["40-64"] == pytest.approx(1.5)
    # ECE per group equals the plain ECE on that group's cases
    assert r["sex"]["ece"]["values"]["male"] == pytest.approx(
        subgroups.expected_calibration_error(y[12:24], p[12:24])
    )
    # both attributes have a 0.5 gap; the first one found (sex) is kept
    assert r["largest_gap"]["coverage"] == {
        "attribute": "sex",
        "gap": pytest.approx(0.5),
        "max_group": "female",
        "min_group": "male",
    }
    assert r["largest_gap"]["mean_set_size"]["min_group"] == "female"
    flagged = {(u["attribute"], u["group"]): u for u in r["under_covered"]}
    assert set(flagged) == {("sex", "male"), ("age_band", "40-64")}
    assert flagged[("age_band", "40-64")] == {
        "attribute": "age_band", "group": "40-64", "coverage": 0.5, "n": 12, "small": False
    }  # fmt: skip


def test_coverage_by_group_counts_unseen_labels_as_misses_and_flags_small_groups() -> None:
    p = np.array([[0.9, 0.1]] * 4)
    r = subgroups.coverage_by_group(
        [[0]] * 4, [0, 0, -1, 0], p, 0.2, sex=["f", "f", "m", "m"], min_n=3
    )
    assert r["sex"]["coverage"]["values"] == {"f": 1.0, "m": 0.5}
    assert r["sex"]["coverage"]["gap"] is None  # no group reaches min_n
    assert r["under_covered"] == [
        {"attribute": "sex", "group": "m", "coverage": 0.5, "n": 2, "small": True}
    ]
    assert "age_band" not in r


def test_coverage_by_group_checks_lengths() -> None:
    sets, y, p, sex, _ = _sets_cohort()
    with pytest.raises(ValueError, match="sets: expected 27 sets"):
        subgroups.coverage_by_group(sets[:-1], y, p, 0.1, sex=sex)
    with pytest.raises(ValueError, match="sex: expected 27 entries; found 26"):
        subgroups.coverage_by_group(sets, y, p, 0.1, sex=sex[:-1])
