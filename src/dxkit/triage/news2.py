"""NEWS2, the Royal College of Physicians' early warning score, from a case's vital signs.

Why here: the differential says *what* a patient may have; NEWS2 says *how ill* they are
now, and a sick patient must be escalated whatever the model thinks. The scoring bands are
data (``resources/news2.yaml``, RCP 2017) so a revision of the chart is an edit there.

Missing parameters are listed and score nothing, so a partial set of vitals gives a lower
bound on the true score, never an over-estimate; a missing oxygen flow is taken as air.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from dxkit.cases.schema import Case, Observation
from dxkit.errors import InputError
from dxkit.quality.catalogue import canonical_observation, catalogue_by_key

_VITALS = ("respiratory_rate", "spo2", "systolic_bp", "pulse", "consciousness", "temperature")


@cache
def news2_table() -> dict[str, Any]:
    """The NEWS2 chart from ``resources/news2.yaml`` (read once, on first use)."""
    text = resources.files("dxkit.resources").joinpath("news2.yaml").read_text("utf-8")
    table: dict[str, Any] = yaml.safe_load(text)
    return table


def _band(value: float, bands: list[list[float | None]]) -> int:
    """Score of the first band whose upper bound ``value`` does not exceed."""
    for upper, score in bands:
        if upper is None or value <= upper:
            return int(score or 0)
    raise ValueError("NEWS2 bands must end with an open [null, score] band")


class News2Result(BaseModel):
    """Aggregate NEWS2 score, per-parameter scores and the RCP clinical risk band.

    Attributes:
        score: sum of the component scores; ``None`` when no vital sign was recorded.
        components: parameter key (``respiratory_rate``, ``spo2``, ``air_or_oxygen``,
            ``systolic_bp``, ``pulse``, ``consciousness``, ``temperature``) to its score.
        missing: parameter keys with no observation (they scored nothing).
        risk: ``low``, ``low-medium`` (a single parameter scored 3), ``medium`` (5-6),
            ``high`` (>= 7), or ``unknown`` when ``score`` is ``None``.
    """

    model_config = ConfigDict(frozen=True)
    score: int | None
    components: dict[str, int] = Field(default_factory=dict)
    missing: list[str] = Field(default_factory=list)
    risk: str = "unknown"

    def summary(self) -> str:
        """One line naming the score, the risk band and the parameters that scored.

        >>> News2Result(score=5, components={"pulse": 3, "spo2": 2}, risk="medium").summary()
        'NEWS2 5 (medium): pulse 3, SpO2 2'
        """
        if self.score is None:
            return "NEWS2 not available (no vital signs recorded)"
        labels = {k: v["label"] for k, v in news2_table()["parameters"].items()}
        scored = sorted(
            ((k, s) for k, s in self.components.items() if s > 0), key=lambda kv: -kv[1]
        )
        parts = ", ".join(f"{labels.get(k, k)} {s}" for k, s in scored) or "all parameters 0"
        return f"NEWS2 {self.score} ({self.risk}): {parts}"


def news2_risk(score: int, components: dict[str, int]) -> str:
    """RCP clinical risk band for an aggregate score (Chart 2).

    >>> news2_risk(7, {}), news2_risk(5, {}), news2_risk(3, {"pulse": 3}), news2_risk(2, {})
    ('high', 'medium', 'low-medium', 'low')
    """
    risk = news2_table()["risk"]
    if score >= risk["high_at"]:
        return "high"
    if score >= risk["medium_at"]:
        return "medium"
    if any(s >= risk["single_red"] for s in components.values()):
        return "low-medium"
    return "low"


def _sort_time(time: datetime | None) -> datetime:
    if time is None:
        return datetime.min.replace(tzinfo=UTC)
    return time if time.tzinfo is not None else time.replace(tzinfo=UTC)


def latest_observations(case: Case) -> dict[str, Observation]:
    """The latest observation per LOINC code, in its canonical unit.

    Timed readings beat untimed ones; among equals the later one in the list wins (naive
    times are read as UTC so mixed inputs still compare).

    Raises:
        InputError: a vital sign in a unit that does not fit its code or with an
            impossible value (the same check as :func:`dxkit.quality.validate.validate_case`).
    """
    ranked = sorted(
        enumerate(case.observations),
        key=lambda item: (item[1].time is not None, _sort_time(item[1].time), item[0]),
    )
    latest: dict[str, tuple[int, Observation]] = {obs.code: (i, obs) for i, obs in ranked}
    return {
        code: canonical_observation(obs, f"observations[{i}]") for code, (i, obs) in latest.items()
    }


def news2(case: Case, *, spo2_scale: int = 1) -> News2Result:
    """Score a case's latest vital signs with NEWS2.

    Args:
        case: the case; observations may be in any accepted unit.
        spo2_scale: 1 for most patients; 2 only for confirmed hypercapnic respiratory
            failure with a prescribed 88-92% target (a clinician's decision).

    Raises:
        InputError: ``spo2_scale`` is not 1 or 2, or a vital sign is implausible.

    >>> from dxkit.cases.schema import Observation as Obs
    >>> case = Case(case_id="c1", observations=[
    ...     Obs(code="9279-1", value=26, unit="/min"),      # respiratory rate -> 3
    ...     Obs(code="59408-5", value=90, unit="%"),        # SpO2 (scale 1) -> 3
    ...     Obs(code="8867-4", value=115, unit="/min"),     # pulse -> 2
    ...     Obs(code="8310-5", value=101.3, unit="[degF]"), # 38.5 Cel -> 1
    ... ])
    >>> result = news2(case)
    >>> result.score, result.risk
    (9, 'high')
    >>> result.missing
    ['air_or_oxygen', 'systolic_bp', 'consciousness']
    """
    if spo2_scale not in (1, 2):
        raise InputError(
            "spo2_scale",
            expected="1 (most patients) or 2 (hypercapnic respiratory failure)",
            found=repr(spo2_scale),
            fix="pass spo2_scale=1 unless a clinician prescribed an 88-92% target",
        )
    params = news2_table()["parameters"]
    specs = catalogue_by_key()
    latest = latest_observations(case)

    def reading(key: str) -> float | None:
        obs = latest.get(specs[params[key]["observation"]].loinc)
        return None if obs is None else obs.value

    components: dict[str, int] = {}
    missing: list[str] = []
    oxygen_flow = reading("air_or_oxygen")  # L/min
    on_oxygen = oxygen_flow is not None and oxygen_flow > 0
    for key, param in params.items():
        value = reading(key)
        if value is None:
            missing.append(key)
            continue
        if key == "air_or_oxygen":
            components[key] = int(param["oxygen"] if on_oxygen else param["air"])
        elif key == "spo2":
            scale = "scale1" if spo2_scale == 1 else f"scale2_{'oxygen' if on_oxygen else 'air'}"
            components[key] = _band(value, param[scale])
        else:
            components[key] = _band(value, param["bands"])
    if not any(key in components for key in _VITALS):
        return News2Result(score=None, components=components, missing=missing)
    score = sum(components.values())
    return News2Result(
        score=score,
        components=components,
        missing=missing,
        risk=news2_risk(score, components),
    )
