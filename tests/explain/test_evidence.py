"""Evidence per condition: words and facts for and against, from the right method."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from dxkit.calibrate.temperature import CalibratedModel
from dxkit.cases.schema import Case, Observation
from dxkit.errors import InputError
from dxkit.explain.evidence import ConditionEvidence, EvidenceItem, explain_case
from dxkit.explain.words import display_word, note_word_spans
from dxkit.models.tfidf import TfidfModel

CASE = Case(
    case_id="1",
    age=70,
    sex="F",
    notes="patient tired since yesterday, cough at home",
    observations=[Observation(code="8867-4", value=128, unit="/min")],
)


def test_occlusion_evidence_for_and_against(keyword_model: TfidfModel) -> None:
    evidence = explain_case(keyword_model, CASE, ["pneumonia", "eczema"], top=3)
    assert list(evidence) == ["pneumonia", "eczema"]
    pneumonia, eczema = evidence["pneumonia"], evidence["eczema"]
    assert pneumonia.method == "occlusion"
    assert pneumonia.supporting[0] == EvidenceItem(
        kind="token", feature="cough", weight=pneumonia.supporting[0].weight
    )
    assert eczema.opposing[0].feature == "cough"
    assert eczema.opposing[0].weight == pytest.approx(-pneumonia.supporting[0].weight)
    for ev in evidence.values():
        assert len(ev.supporting) <= 3 and len(ev.opposing) <= 3
        weights = [i.weight for i in ev.supporting]
        assert weights == sorted(weights, reverse=True) and all(w > 0 for w in weights)
        assert all(i.weight < 0 for i in ev.opposing)


def test_encoder_evidence_uses_integrated_gradients(tiny_encoder: Any) -> None:
    calibrated = CalibratedModel(tiny_encoder, 1.5, {})
    for model in (tiny_encoder, calibrated):
        ev = explain_case(model, CASE, ["eczema"], top=20)["eczema"]
        assert ev.method == "integrated_gradients"
        items = ev.supporting + ev.opposing
        note_words = {display_word(CASE.notes, s) for s in note_word_spans(CASE.notes)}
        assert {i.feature for i in items if i.kind == "token"} <= note_words
        assert {i.feature for i in items if i.kind == "structured"} <= {
            "age 70",
            "sex female",
            "heart rate 128 /min",
        }
        assert any(i.kind == "structured" for i in items)
        assert any(i.kind == "token" for i in items)


def test_evidence_is_frozen_and_round_trips_through_json(keyword_model: TfidfModel) -> None:
    ev = explain_case(keyword_model, CASE, ["pneumonia"])["pneumonia"]
    assert ConditionEvidence.model_validate_json(ev.model_dump_json()) == ev
    with pytest.raises(pydantic.ValidationError):
        ev.supporting[0].weight = 1.0  # type: ignore[misc]


def test_bad_requests(keyword_model: TfidfModel) -> None:
    with pytest.raises(
        InputError, match="labels the model was trained on; found unknown label 'flu'"
    ):
        explain_case(keyword_model, CASE, ["pneumonia", "flu"])
    with pytest.raises(InputError, match="top: expected an integer >= 1"):
        explain_case(keyword_model, CASE, ["pneumonia"], top=0)
    assert explain_case(keyword_model, CASE, []) == {}


def test_repeated_words_are_listed_once(keyword_model: TfidfModel) -> None:
    case = Case(case_id="2", notes="Cough today and cough tonight")
    ev = explain_case(keyword_model, case, ["pneumonia"], top=10)["pneumonia"]
    features = [i.feature.lower() for i in ev.supporting + ev.opposing]
    assert features.count("cough") == 1
    assert ev.supporting[0].feature == "Cough"
