"""Combine the differential's triage levels with NEWS2 into one disposition.

Why both: a differential can rank a benign condition first while a dangerous one sits at
20%; and a patient can be physiologically unstable whatever the diagnosis. So the level is
the most urgent among conditions that are plausible enough to act on (probability at or
above ``threshold``, plus the top-ranked one always), then escalated (never lowered) by the
NEWS2 clinical response band, following RCP (2017) Chart 2.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict

from dxkit.errors import InputError
from dxkit.knowledge.schema import Triage
from dxkit.triage.news2 import News2Result

TriageLevel = Triage
"""Triage levels are the knowledge-base enum: emergency, urgent, routine, self-care."""

# The least urgent level each NEWS2 risk band allows (RCP 2017, Chart 2).
NEWS2_FLOOR: dict[str, Triage] = {
    "high": Triage.emergency,
    "medium": Triage.urgent,
    "low-medium": Triage.urgent,
}


class RankedCondition(NamedTuple):
    """A condition of the differential: display name, triage level and probability."""

    name: str | None
    triage: Triage
    probability: float


ConditionInput = RankedCondition | tuple[str, Triage | str, float] | tuple[Triage | str, float]
"""``(name, triage, probability)``, ``(triage, probability)`` or a :class:`RankedCondition`."""


class TriageDecision(BaseModel):
    """The disposition, why it was chosen, and the NEWS2 score that informed it."""

    model_config = ConfigDict(frozen=True)
    level: Triage
    reason: str
    news2: int | None = None


def _normalise(item: ConditionInput, index: int) -> RankedCondition:
    where = f"conditions[{index}]"
    if len(item) == 2:
        name, (triage, prob) = None, item
    elif len(item) == 3:
        name, triage, prob = item
    else:
        raise InputError(
            where,
            expected="(name, triage, probability) or (triage, probability)",
            found=f"a tuple of {len(item)} items",
            fix="pass each condition as (name, Triage, probability)",
        )
    try:
        level = Triage(triage)
    except ValueError:
        raise InputError(
            f"{where}.triage",
            expected=f"one of {', '.join(t.value for t in Triage)}",
            found=repr(triage),
            fix="use the triage level from the knowledge base entry",
        ) from None
    if not isinstance(prob, int | float) or not math.isfinite(prob) or not 0 <= prob <= 1:
        raise InputError(
            f"{where}.probability",
            expected="a number between 0 and 1",
            found=repr(prob),
            fix="pass the condition's predicted probability",
        )
    return RankedCondition(None if name is None else str(name), level, float(prob))


def _condition_reason(cond: RankedCondition, rank: int) -> str:
    label = cond.name or f"condition ranked {rank + 1}"
    return f"{label} (p={cond.probability:.2f}) is {_article(cond.triage)} condition"


def _article(level: Triage) -> str:
    text = level.value
    return f"an {text}" if text[0] in "aeiou" else f"a {text}"


def combine_triage(
    conditions: Sequence[ConditionInput],
    news: News2Result | None,
    *,
    threshold: float = 0.1,
) -> TriageDecision:
    """Pick the triage level from the differential and escalate it with NEWS2.

    Args:
        conditions: the differential, in any order; each ``(name, triage, probability)``,
            ``(triage, probability)`` or a :class:`RankedCondition`. Names only appear in
            the reason, so pass the condition's display name.
        news: the NEWS2 result, or ``None`` when vitals were not available.
        threshold: conditions at or above this probability count; the most probable one
            always counts.

    Raises:
        InputError: a malformed condition, a probability outside 0-1, or a threshold
            outside 0-1.

    >>> decision = combine_triage(
    ...     [("Eczema", "self-care", 0.7), ("Cellulitis", "urgent", 0.2)], None
    ... )
    >>> decision.level.value, decision.reason
    ('urgent', 'Cellulitis (p=0.20) is an urgent condition')
    >>> news = News2Result(score=7, components={"respiratory_rate": 3, "spo2": 3,
    ...                    "pulse": 1}, risk="high")
    >>> combine_triage([("Asthma", "urgent", 0.8)], news).reason
    'NEWS2 7 (high): respiratory rate 3, SpO2 3, pulse 1; Asthma (p=0.80) is an urgent condition'
    """
    if not 0 <= threshold <= 1:
        raise InputError(
            "threshold",
            expected="a probability between 0 and 1",
            found=repr(threshold),
            fix="pass e.g. threshold=0.1",
        )
    ranked = sorted(
        (_normalise(item, i) for i, item in enumerate(conditions)),
        key=lambda c: -c.probability,
    )
    # (rank, condition) of those that count: above threshold, or the top-ranked one.
    eligible = [(r, c) for r, c in enumerate(ranked) if r == 0 or c.probability >= threshold]
    driver = min(eligible, key=lambda rc: (rc[1].triage.rank, rc[0])) if eligible else None
    news_score = news.score if news is not None else None
    floor = NEWS2_FLOOR.get(news.risk) if news is not None and news_score is not None else None

    if driver is None and floor is None:
        reason = "no condition or NEWS2 to go on; routine clinical assessment"
        if news is not None and news_score is not None:
            reason = f"{news.summary()}; no condition in the differential"
        return TriageDecision(level=Triage.routine, reason=reason, news2=news_score)
    condition_level = driver[1].triage if driver is not None else None
    condition_reason = _condition_reason(driver[1], driver[0]) if driver is not None else ""
    if floor is not None and (condition_level is None or floor.rank < condition_level.rank):
        assert news is not None
        reason = news.summary()
        if condition_reason:
            reason += f"; {condition_reason}"
        return TriageDecision(level=floor, reason=reason, news2=news_score)
    assert condition_level is not None
    reason = condition_reason
    if news is not None and news_score is not None and floor is not None:
        reason += f"; {news.summary()} agrees"
    return TriageDecision(level=condition_level, reason=reason, news2=news_score)
