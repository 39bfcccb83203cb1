"""Validation: canonical units, plausibility errors and data-quality warnings."""

from __future__ import annotations

from datetime import datetime

import pytest

from dxkit.cases.schema import Case, History, Observation
from dxkit.errors import InputError
from dxkit.quality.validate import QualityWarning, validate_case, validate_many

TEMP, SBP, DBP, HCG, WEIGHT, HEIGHT = "8310-5", "8480-6", "8462-4", "21198-7", "29463-7", "8302-2"
T0 = datetime(2024, 1, 1, 8, 0)


def obs(code: str, value: float, unit: str, time: datetime | None = None) -> Observation:
    return Observation(code=code, value=value, unit=unit, time=time)


def case(*observations: Observation, **kw: object) -> Case:
    fields: dict[str, object] = {"case_id": "c1", "notes": "fever", "age": 30, "sex": "female"}
    fields.update(kw)
    return Case.model_validate({**fields, "observations": [o.model_dump() for o in observations]})


def codes(warnings: list[QualityWarning]) -> list[str]:
    return [w.code for w in warnings]


def test_converts_every_known_observation_to_its_canonical_unit() -> None:
    result = validate_case(case(obs(TEMP, 101.3, "[degF]"), obs(SBP, 16, "kPa")))
    temp, sbp = result.case.observations
    assert (temp.unit, round(temp.value, 2)) == ("Cel", 38.5)
    assert (sbp.unit, round(sbp.value)) == ("mm[Hg]", 120)
    assert result.warnings == []


def test_implausible_value_names_field_range_and_likely_unit() -> None:
    with pytest.raises(
        InputError,
        match=r"observations\[0\]\.value \(body temperature, LOINC 8310-5\): expected 25-45 Cel; "
        r"found 102 Cel\. Fix: .*was it \[degF\]\?",
    ):
        validate_case(case(obs(TEMP, 102, "Cel")))


def test_implausible_value_without_a_likely_unit_lists_accepted_units() -> None:
    with pytest.raises(InputError, match=r"found 120 Cel.*accepted units: Cel, \[degF\], K"):
        validate_case(case(obs(TEMP, 120, "Cel")))


def test_wrong_unit_names_the_accepted_units() -> None:
    with pytest.raises(
        InputError, match=r"observations\[1\]\.unit .*expected one of the UCUM units mm\[Hg\], kPa"
    ):
        validate_case(case(obs(TEMP, 37, "Cel"), obs(SBP, 120, "mmHg")))


def test_not_a_number_is_rejected() -> None:
    with pytest.raises(InputError, match=r"expected a finite number in Cel; found nan"):
        validate_case(case(obs(TEMP, float("nan"), "Cel")))


def test_empty_case_is_rejected() -> None:
    with pytest.raises(InputError, match="expected notes or at least one observation"):
        validate_case(case(notes="   "))


def test_unusual_value_warns_but_keeps_the_case() -> None:
    result = validate_case(case(obs(TEMP, 41.5, "Cel")))
    assert codes(result.warnings) == ["unusual_value"]
    assert result.warnings[0].field == "observations[0].value"
    assert "34-41 Cel" in result.warnings[0].message


def test_unknown_code_warns_by_default_and_fails_when_strict() -> None:
    unknown = obs("99999-9", 3, "1")
    result = validate_case(case(unknown))
    assert codes(result.warnings) == ["unknown_code"]
    assert result.case.observations == [unknown]
    with pytest.raises(InputError, match=r"observations\[0\]\.code: expected a LOINC code"):
        validate_case(case(unknown), strict=True)


def test_missing_age_and_sex_warn() -> None:
    result = validate_case(case(age=None, sex=None))
    assert [(w.code, w.field) for w in result.warnings] == [
        ("missing_field", "age"),
        ("missing_field", "sex"),
    ]


def test_duplicate_observation_same_code_and_time() -> None:
    later = datetime(2024, 1, 1, 9, 0)
    result = validate_case(
        case(obs(TEMP, 37, "Cel", T0), obs(TEMP, 37.2, "Cel", T0), obs(TEMP, 37.4, "Cel", later))
    )
    assert [(w.code, w.field) for w in result.warnings] == [
        ("duplicate_observation", "observations[1]")
    ]


def test_systolic_not_above_diastolic_is_a_contradiction() -> None:
    swapped = validate_case(case(obs(SBP, 70, "mm[Hg]", T0), obs(DBP, 110, "mm[Hg]", T0)))
    assert codes(swapped.warnings) == ["contradiction"]
    assert "were they swapped" in swapped.warnings[0].message
    other_time = validate_case(case(obs(SBP, 70, "mm[Hg]", T0), obs(DBP, 110, "mm[Hg]")))
    assert codes(other_time.warnings) == []


def test_male_with_positive_hcg_or_pregnancy_history() -> None:
    hcg = validate_case(case(obs(HCG, 1200, "[IU]/L"), sex="male"))
    assert [(w.code, w.field) for w in hcg.warnings] == [("contradiction", "observations[0].value")]
    negative = validate_case(case(obs(HCG, 2, "[IU]/L"), sex="male"))
    assert negative.warnings == []
    secret = "Pregnancy 2019, patient Jane Roe"
    history = History(past_conditions=["asthma", secret])
    result = validate_case(case(sex="male", history=history.model_dump()))
    assert [(w.code, w.field) for w in result.warnings] == [
        ("contradiction", "history.past_conditions[1]")
    ]
    assert "Jane" not in result.warnings[0].message


def test_child_with_pregnancy_and_chinese_history_terms() -> None:
    result = validate_case(case(age=9, history={"past_conditions": ["妊娠期糖尿病"]}))
    assert codes(result.warnings) == ["contradiction"]
    assert "under 12" in result.warnings[0].message
    contraception = validate_case(case(age=30, history={"past_conditions": ["避孕"]}))
    assert contraception.warnings == []


def test_implausible_weight_height_combination() -> None:
    inches = validate_case(case(obs(WEIGHT, 70, "kg"), obs(HEIGHT, 67, "[in_i]")))
    assert inches.warnings == []  # 170 cm after conversion: fine
    swapped = validate_case(case(obs(WEIGHT, 70, "kg"), obs(HEIGHT, 67, "cm")))
    assert codes(swapped.warnings) == ["contradiction"]
    assert "BMI 155.9" in swapped.warnings[0].message


def test_validate_many_collects_errors_without_stopping() -> None:
    good = case()
    bad = case(obs(TEMP, 120, "Cel"), case_id="c2")
    results = validate_many([bad, good, bad])
    assert [type(r).__name__ for r in results] == ["InputError", "ValidationResult", "InputError"]
