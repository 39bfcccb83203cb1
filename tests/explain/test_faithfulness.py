"""ERASER comprehensiveness and sufficiency against random words."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from dxkit.cases.schema import Case
from dxkit.errors import InputError
from dxkit.explain.faithfulness import faithfulness
from dxkit.explain.occlusion import occlusion
from dxkit.explain.tokens import integrated_gradients
from dxkit.explain.words import WordWeight
from dxkit.models.tfidf import TfidfModel


def _explained(model: TfidfModel, cases: list[Case]) -> list:  # type: ignore[type-arg]
    return occlusion(model, cases, model.predict_proba(cases).argmax(axis=1))


def test_occlusion_beats_random_words(
    keyword_model: TfidfModel, keyword_cases: list[tuple[Case, str]]
) -> None:
    cases = [c for c, _ in keyword_cases[:12]]
    atts = _explained(keyword_model, cases)
    for k in (1, 5):
        report = faithfulness(keyword_model, cases, atts, k=k)
        assert report.n == 12 and report.k == k
        assert report.comprehensiveness > report.random_comprehensiveness + 0.1
        assert report.sufficiency < report.random_sufficiency - 0.05
    assert faithfulness(keyword_model, cases, atts, k=1) == faithfulness(
        keyword_model, cases, atts, k=1
    )


def test_reversed_ranking_is_worse_than_random(
    keyword_model: TfidfModel, keyword_cases: list[tuple[Case, str]]
) -> None:
    cases = [c for c, _ in keyword_cases[:8]]
    flipped = [
        replace(a, words=tuple(WordWeight(w.word, -w.weight, w.span) for w in a.words))
        for a in _explained(keyword_model, cases)
    ]
    report = faithfulness(keyword_model, cases, flipped, k=1)
    assert report.comprehensiveness < report.random_comprehensiveness


def test_scores_match_a_hand_computation(keyword_model: TfidfModel) -> None:
    case = Case(case_id="1", notes="tired rash today")
    eczema = keyword_model.labels.index("eczema")
    (att,) = occlusion(keyword_model, [case], [eczema])
    report = faithfulness(keyword_model, [case], [att], k=1)
    p = keyword_model.predict_proba(
        [
            case,
            case.model_copy(update={"notes": "tired today"}),
            case.model_copy(update={"notes": "rash"}),
        ]
    )[:, eczema]
    assert report.comprehensiveness == pytest.approx(p[0] - p[1])
    assert report.sufficiency == pytest.approx(p[0] - p[2])


def test_cases_without_note_words_are_skipped(keyword_model: TfidfModel) -> None:
    case = Case(case_id="1", age=30)
    atts = occlusion(keyword_model, [case], [0])
    report = faithfulness(keyword_model, [case], atts)
    assert report.n == 0 and math.isnan(report.comprehensiveness)


def test_errors(keyword_model: TfidfModel) -> None:
    case = Case(case_id="1", notes="cough")
    atts = occlusion(keyword_model, [case], [0])
    with pytest.raises(InputError, match=r"one attribution per case \(2\); found 1"):
        faithfulness(keyword_model, [case, case], atts)
    with pytest.raises(InputError, match="k: expected an integer >= 1"):
        faithfulness(keyword_model, [case], atts, k=0)
    assert np.isfinite(faithfulness(keyword_model, [case], atts, k=3).comprehensiveness)


def test_integrated_gradients_attributions_are_scored(tiny_encoder: Any) -> None:
    cases = [Case(case_id="1", age=50, notes="fever and cough since day, chest pain")]
    atts = integrated_gradients(tiny_encoder, cases, [0])
    report = faithfulness(tiny_encoder, cases, atts, k=2)
    assert report.n == 1 and np.isfinite(report.comprehensiveness)
    assert np.isfinite(report.random_sufficiency)
