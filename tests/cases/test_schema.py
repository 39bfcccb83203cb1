from __future__ import annotations

import pytest
from pydantic import ValidationError

from dxkit.cases.schema import Case, LabeledCase, Sex, age_band, public_age


def test_unknown_fields_are_rejected_without_echoing_patient_text() -> None:
    with pytest.raises(ValidationError) as info:
        Case.model_validate({"case_id": "x", "notes": "ok", "note": "SECRET patient words"})
    assert "note" in str(info.value)
    assert "SECRET" not in str(info.value)
    with pytest.raises(ValidationError) as info:
        LabeledCase.model_validate({"case": {"case_id": "x", "age": "old SECRET"}, "label": "a"})
    assert "SECRET" not in str(info.value)


def test_ages_and_sex_are_normalised() -> None:
    case = Case(case_id="c", age="90+", sex="F")
    assert case.age == 90 and case.sex is Sex.female
    assert Case(case_id="c", sex="男").sex is Sex.male
    assert Case(case_id="c").sex is Sex.unknown
    with pytest.raises(ValidationError, match="age"):
        Case(case_id="c", age=130)


def test_public_output_caps_age() -> None:
    case = Case(case_id="c", age=97)
    assert case.to_public_dict()["age"] == "90+"
    assert public_age(89) == 89
    assert age_band(97) == "65+"
