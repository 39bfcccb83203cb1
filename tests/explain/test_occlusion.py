"""Word occlusion through predict_proba, on a TF-IDF model where one keyword decides."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from dxkit.cases.schema import Case
from dxkit.errors import InputError
from dxkit.explain.occlusion import occlusion
from dxkit.explain.words import delete_spans, with_notes
from dxkit.models.tfidf import TfidfModel


class CountingModel:
    """A real model that counts its predict_proba calls and inputs."""

    def __init__(self, inner: TfidfModel) -> None:
        self.inner = inner
        self.labels = inner.labels
        self.calls: list[int] = []

    def predict_proba(self, cases: Sequence[Case]) -> np.ndarray:
        self.calls.append(len(cases))
        return self.inner.predict_proba(cases)


def test_keyword_gets_the_top_weight(
    keyword_model: TfidfModel, keyword_cases: list[tuple[Case, str]]
) -> None:
    cases = [c for c, _ in keyword_cases[:6]]
    targets = keyword_model.predict_proba(cases).argmax(axis=1)
    for att in occlusion(keyword_model, cases, targets):
        keyword = {"pneumonia": "cough", "eczema": "rash"}[keyword_model.labels[att.target]]
        best = max(att.words, key=lambda w: w.weight)
        assert best.word == keyword
        assert best.weight > 0.1
        assert att.method == "occlusion" and att.delta is None


def test_weight_is_the_drop_in_target_probability(keyword_model: TfidfModel) -> None:
    case = Case(case_id="1", notes="tired cough at home")
    (att,) = occlusion(keyword_model, [case], [0])
    word = att.words[1]
    assert word.word == "cough" and word.span == (6, 11)
    assert word.span is not None
    without = with_notes(case, delete_spans(case.notes, [word.span]))
    expected = (
        keyword_model.predict_proba([case])[0, 0] - keyword_model.predict_proba([without])[0, 0]
    )
    assert word.weight == pytest.approx(expected, abs=1e-9)


def test_variants_are_batched(keyword_model: TfidfModel) -> None:
    model = CountingModel(keyword_model)
    cases = [Case(case_id=str(i), notes="cough and rash today") for i in range(3)]
    occlusion(model, cases, [0, 1, 0])
    assert model.calls == [15]  # 3 cases x (4 words + original), one call
    model.calls.clear()
    occlusion(model, cases, [0, 1, 0], batch_size=4)
    assert model.calls == [4, 4, 4, 3]


def test_word_cap_and_empty_notes(keyword_model: TfidfModel) -> None:
    cases = [Case(case_id="1", notes="a b c d e f g h"), Case(case_id="2", age=40)]
    capped, empty = occlusion(keyword_model, cases, [0, 0], max_words=3)
    assert [w.word for w in capped.words] == ["a", "b", "c"]
    assert empty.words == ()


def test_errors_never_quote_notes(keyword_model: TfidfModel) -> None:
    case = Case(case_id="1", notes="private words here")
    with pytest.raises(InputError, match="max_words: expected an integer >= 1") as info:
        occlusion(keyword_model, [case], [0], max_words=0)
    assert "private" not in str(info.value)
    with pytest.raises(InputError, match=r"class indices in \[0, 1\]; found index 5"):
        occlusion(keyword_model, [case], [5])
