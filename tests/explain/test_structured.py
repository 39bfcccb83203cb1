"""Structured attributions: readable fact names and drops through predict_proba."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from dxkit.cases.schema import Case, Observation
from dxkit.explain.structured import structured_attributions, structured_variants


class TachycardiaModel:
    """A tiny rule model: 'sepsis' is likely when any heart rate is above 100 /min."""

    def __init__(self) -> None:
        self.labels = ["sepsis", "well"]
        self.calls = 0

    def predict_proba(self, cases: Sequence[Case]) -> np.ndarray:
        self.calls += 1
        fast = [any(o.code == "8867-4" and o.value > 100 for o in c.observations) for c in cases]
        p = np.where(fast, 0.9, 0.2)
        return np.stack([p, 1 - p], axis=1)


def full_case() -> Case:
    return Case.model_validate(
        {
            "case_id": "1",
            "age": 67.4,
            "sex": "F",
            "notes": "secret words of the note",
            "lifestyle": {"smoking": "current", "occupation": "baker"},
            "history": {
                "past_conditions": ["asthma"],
                "medications": ["metformin", "salbutamol"],
                "allergies": ["penicillin"],
                "family_history": ["diabetes"],
            },
            "observations": [
                {"code": "8867-4", "value": 128, "unit": "/min"},
                {"code": "8310-5", "value": 101.3, "unit": "[degF]"},
            ],
        }
    )


def test_fact_names_are_readable_and_never_the_notes() -> None:
    names = [name for name, _ in structured_variants(full_case())]
    assert names == [
        "age 67",
        "sex female",
        "smoking current",
        "occupation baker",
        "history of asthma",
        "medication metformin",
        "medication salbutamol",
        "allergy penicillin",
        "family history of diabetes",
        "heart rate 128 /min",
        "body temperature 38.5 Cel",
    ]
    assert not any("secret" in name for name in names)


def test_each_variant_lacks_exactly_its_fact() -> None:
    case = full_case()
    variants = dict(structured_variants(case))
    assert variants["age 67"].age is None and variants["age 67"].sex == case.sex
    assert variants["sex female"].sex.value == "unknown"
    assert variants["smoking current"].lifestyle.smoking is None
    assert variants["smoking current"].lifestyle.occupation == "baker"
    assert variants["medication metformin"].history.medications == ["salbutamol"]
    assert [o.code for o in variants["heart rate 128 /min"].observations] == ["8310-5"]
    assert case.history.medications == ["metformin", "salbutamol"]  # original untouched


def test_weight_is_the_drop_when_the_fact_is_removed() -> None:
    model = TachycardiaModel()
    (att,) = structured_attributions(model, [full_case()], [0])
    weights = dict(att.pairs())
    assert weights["heart rate 128 /min"] == pytest.approx(0.7)
    assert weights["age 67"] == pytest.approx(0.0)
    assert model.calls == 1
    (other,) = structured_attributions(model, [full_case()], [1])
    assert dict(other.pairs())["heart rate 128 /min"] == pytest.approx(-0.7)


def test_ages_over_89_are_shown_as_90_plus() -> None:
    case = Case(case_id="1", age=95, observations=[Observation(code="X", value=3, unit="mg")])
    assert [n for n, _ in structured_variants(case)] == ["age 90+", "observation X 3 mg"]
