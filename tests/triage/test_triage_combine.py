"""Combining the differential's triage levels with NEWS2."""

from __future__ import annotations

import pytest

from dxkit.errors import InputError
from dxkit.knowledge.schema import Triage
from dxkit.triage.combine import RankedCondition, TriageLevel, combine_triage
from dxkit.triage.news2 import News2Result

HIGH = News2Result(score=7, components={"respiratory_rate": 3, "spo2": 3, "pulse": 1}, risk="high")
MEDIUM = News2Result(score=5, components={"pulse": 2, "temperature": 3}, risk="medium")
LOW = News2Result(score=1, components={"pulse": 1}, risk="low")


def test_triage_level_is_the_knowledge_base_enum() -> None:
    assert TriageLevel is Triage


def test_most_urgent_condition_above_threshold_drives() -> None:
    decision = combine_triage(
        [("Anxiety", "routine", 0.6), ("Pulmonary embolism", "emergency", 0.31)], None
    )
    assert decision.level is Triage.emergency
    assert decision.reason == "Pulmonary embolism (p=0.31) is an emergency condition"
    assert decision.news2 is None


def test_conditions_below_threshold_are_ignored_but_top_one_always_counts() -> None:
    conditions = [("Eczema", "self-care", 0.05), ("Meningitis", "emergency", 0.04)]
    decision = combine_triage(conditions, None)
    assert decision.level is Triage.self_care
    assert decision.reason.startswith("Eczema (p=0.05)")
    assert combine_triage(conditions, None, threshold=0.04).level is Triage.emergency


def test_news2_escalates_but_never_lowers() -> None:
    eczema = [RankedCondition("Eczema", Triage.self_care, 0.9)]
    high = combine_triage(eczema, HIGH)
    assert (high.level, high.news2) == (Triage.emergency, 7)
    assert high.reason.startswith("NEWS2 7 (high): respiratory rate 3, SpO2 3, pulse 1")
    assert combine_triage(eczema, MEDIUM).level is Triage.urgent
    low_medium = News2Result(score=3, components={"pulse": 3}, risk="low-medium")
    assert combine_triage(eczema, low_medium).level is Triage.urgent
    assert combine_triage(eczema, LOW).level is Triage.self_care
    emergency = combine_triage([("Sepsis", "emergency", 0.5)], MEDIUM)
    assert emergency.level is Triage.emergency
    assert emergency.reason.startswith("Sepsis (p=0.50)")


def test_unnamed_conditions_and_no_differential() -> None:
    decision = combine_triage([(Triage.routine, 0.7), (Triage.urgent, 0.3)], None)
    assert decision.reason == "condition ranked 2 (p=0.30) is an urgent condition"
    assert combine_triage([], None).level is Triage.routine
    only_news = combine_triage([], HIGH)
    assert (only_news.level, only_news.news2) == (Triage.emergency, 7)


@pytest.mark.parametrize(
    ("conditions", "match"),
    [
        ([("X", "soon", 0.5)], r"conditions\[0\]\.triage: expected one of emergency"),
        ([("X", "urgent", 1.5)], r"conditions\[0\]\.probability: expected a number between"),
        ([("X", "urgent", 0.5, 1)], r"conditions\[0\]: expected \(name, triage, probability\)"),
    ],
)
def test_malformed_conditions_raise(conditions: list[tuple[object, ...]], match: str) -> None:
    with pytest.raises(InputError, match=match):
        combine_triage(conditions, None)  # type: ignore[arg-type]


def test_threshold_must_be_a_probability() -> None:
    with pytest.raises(InputError, match="threshold: expected a probability between 0 and 1"):
        combine_triage([], None, threshold=2)
