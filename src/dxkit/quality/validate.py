"""Validate one case: canonical units, plausibility, and data-quality warnings.

Why two severities: a reading that cannot be true (a temperature of 120 Cel, a unit that
does not fit the code) would silently drag a differential somewhere absurd, so it is an
:class:`~dxkit.errors.InputError` the user must fix. Everything merely odd (an unusual but
possible value, a missing age, a contradiction with a rare genuine exception) becomes a
:class:`QualityWarning` that travels with the case and is shown beside the result.

Messages name fields (``observations[2].value``) and structured values only; they never
quote the notes or free-text history, which may identify the patient.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import yaml

from dxkit.cases.schema import Case, Observation, Sex
from dxkit.errors import InputError
from dxkit.quality.catalogue import (
    canonical_observation,
    catalogue_by_key,
    catalogue_by_loinc,
)
from dxkit.quality.catalogue import format_number as _num
from dxkit.quality.catalogue import format_range as _range


@dataclass(frozen=True)
class QualityWarning:
    """One data-quality finding that does not stop the case.

    Attributes:
        code: machine-readable kind: ``unusual_value``, ``missing_field``,
            ``duplicate_observation``, ``contradiction``, ``unknown_code``.
        field: where it is, e.g. ``observations[2].value``.
        message: human-readable explanation, free of patient free text.
    """

    code: str
    field: str
    message: str


@dataclass(frozen=True)
class ValidationResult:
    """A validated case (observations in canonical units) plus its warnings."""

    case: Case
    warnings: list[QualityWarning] = field(default_factory=list)


@cache
def quality_rules() -> dict[str, Any]:
    """Cross-field rules from ``resources/quality_rules.yaml`` (read once, on first use)."""
    text = resources.files("dxkit.resources").joinpath("quality_rules.yaml").read_text("utf-8")
    rules: dict[str, Any] = yaml.safe_load(text)
    return rules


def _time_key(time: datetime | None) -> str:
    return time.isoformat() if time is not None else "untimed"


def _check_duplicates(observations: list[Observation]) -> Iterable[QualityWarning]:
    seen: dict[tuple[str, str], int] = {}
    for i, obs in enumerate(observations):
        key = (obs.code, _time_key(obs.time))
        if key in seen:
            yield QualityWarning(
                "duplicate_observation",
                f"observations[{i}]",
                f"LOINC {obs.code} with the same time ({key[1]}) as observations[{seen[key]}]; "
                "keep one reading per code and time",
            )
        else:
            seen[key] = i


def _latest(observations: list[Observation], loinc: str) -> Observation | None:
    matches = [o for o in observations if o.code == loinc]
    return matches[-1] if matches else None


def _check_contradictions(case: Case, observations: list[Observation]) -> list[QualityWarning]:
    rules = quality_rules()
    specs = catalogue_by_key()
    found: list[QualityWarning] = []
    # Systolic must exceed diastolic in the same reading.
    systolic = {
        _time_key(o.time): (i, o)
        for i, o in enumerate(observations)
        if o.code == specs["systolic_bp"].loinc
    }
    for j, dia in enumerate(observations):
        if dia.code != specs["diastolic_bp"].loinc or _time_key(dia.time) not in systolic:
            continue
        i, sys = systolic[_time_key(dia.time)]
        if sys.value <= dia.value:
            found.append(
                QualityWarning(
                    "contradiction",
                    f"observations[{i}].value",
                    f"systolic {_num(sys.value)} mm[Hg] is not above diastolic "
                    f"{_num(dia.value)} mm[Hg] (observations[{j}]); were they swapped?",
                )
            )
    # Pregnancy signals: a positive hCG or a pregnancy-related past condition.
    terms = [t.lower() for t in rules["pregnancy"]["terms"]]
    signals: list[str] = [
        f"history.past_conditions[{i}]"
        for i, item in enumerate(case.history.past_conditions)
        if any(t in item.lower() for t in terms)
    ]
    hcg_cut = float(rules["hcg"]["positive_above"])
    signals += [
        f"observations[{i}].value"
        for i, o in enumerate(observations)
        if o.code == rules["hcg"]["loinc"] and o.value > hcg_cut
    ]
    for where in signals:
        if case.sex is Sex.male:
            found.append(
                QualityWarning(
                    "contradiction",
                    where,
                    "pregnancy-related finding (positive hCG or pregnancy history) but sex is "
                    "male; check sex and sample (hCG is also raised by germ-cell tumours)",
                )
            )
        min_age = rules["pregnancy"]["min_age"]
        if case.age is not None and case.age < min_age:
            found.append(
                QualityWarning(
                    "contradiction",
                    where,
                    f"pregnancy-related finding but age is under {min_age}; check age and history",
                )
            )
    # Weight and height must give a body-mass index a human can have.
    weight = _latest(observations, specs["weight"].loinc)
    height = _latest(observations, specs["height"].loinc)
    if weight is not None and height is not None and height.value > 0:
        bmi = weight.value / (height.value / 100) ** 2  # kg / m^2
        low, high = rules["bmi"]["plausible"]
        if not low <= bmi <= high:
            found.append(
                QualityWarning(
                    "contradiction",
                    "observations",
                    f"weight {_num(weight.value)} kg and height {_num(height.value)} cm give BMI "
                    f"{bmi:.1f}, outside {_num(low)}-{_num(high)}; check units of both",
                )
            )
    return found


def validate_case(case: Case, *, strict: bool = False) -> ValidationResult:
    """Check a case and return it with every known observation in its canonical unit.

    Args:
        case: the case as given (already schema-valid).
        strict: make unknown LOINC codes an error instead of a warning.

    Raises:
        InputError: nothing to diagnose from, a unit that does not fit its code, an
            implausible value, or (with ``strict``) an unknown code.

    >>> case = Case(case_id="c1", notes="cough", age=40, sex="f",
    ...             observations=[Observation(code="8310-5", value=107, unit="[degF]")])
    >>> result = validate_case(case)
    >>> result.case.observations[0].unit, round(result.case.observations[0].value, 1)
    ('Cel', 41.7)
    >>> [w.code for w in result.warnings]
    ['unusual_value']
    """
    if not case.notes.strip() and not case.observations:
        raise InputError(
            f"case {case.case_id!r}",
            expected="notes or at least one observation",
            found="empty notes and no observations",
            fix="add the presenting complaint to notes or attach device/lab observations",
        )
    specs = catalogue_by_loinc()
    warnings: list[QualityWarning] = []
    converted: list[Observation] = []
    for i, obs in enumerate(case.observations):
        where = f"observations[{i}]"
        spec = specs.get(obs.code)
        if spec is None:
            if strict:
                raise InputError(
                    f"{where}.code",
                    expected="a LOINC code from the observation catalogue",
                    found=repr(obs.code),
                    fix="use a catalogued code (see dxkit/resources/observations.yaml), or "
                    "allow unknown codes (CLI: --allow-unknown-codes) to keep it with a warning",
                )
            warnings.append(
                QualityWarning(
                    "unknown_code",
                    f"{where}.code",
                    f"LOINC {obs.code} is not in the observation catalogue; kept unchanged and "
                    "not range-checked",
                )
            )
            converted.append(obs)
            continue
        canon = canonical_observation(obs, where)
        low, high = spec.unusual
        if not low <= canon.value <= high:
            warnings.append(
                QualityWarning(
                    "unusual_value",
                    f"{where}.value",
                    f"{spec.name} {_num(round(canon.value, 4))} {spec.unit} is outside the usual "
                    f"{_range(spec.unusual, spec.unit)}; confirm the reading",
                )
            )
        converted.append(canon)
    if case.age is None:
        warnings.append(QualityWarning("missing_field", "age", "age is missing"))
    if case.sex is Sex.unknown:
        warnings.append(QualityWarning("missing_field", "sex", "sex is missing or unknown"))
    warnings.extend(_check_duplicates(converted))
    warnings.extend(_check_contradictions(case, converted))
    return ValidationResult(case.model_copy(update={"observations": converted}), warnings)


def validate_many(
    cases: Iterable[Case], *, strict: bool = False
) -> list[ValidationResult | InputError]:
    """Validate every case, returning the error in place of a bad one instead of stopping.

    Why: a data set with one bad row should still report on all the others, so the user
    can fix every problem in one pass.
    """
    results: list[ValidationResult | InputError] = []
    for case in cases:
        try:
            results.append(validate_case(case, strict=strict))
        except InputError as error:
            results.append(error)
    return results
