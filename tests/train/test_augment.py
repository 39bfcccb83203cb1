"""Evidence dropout, paraphrases and the augment() driver."""

from __future__ import annotations

import random

import pytest

from dxkit.cases.schema import Case, LabeledCase, Observation
from dxkit.errors import InputError
from dxkit.train.augment import augment, evidence_dropout, paraphrase, paraphrase_text
from dxkit.train.splits import train_val_test_split

NOTES = "I have been short of breath. Cough for 3 days. Chest pain on walking. Mild fever."


def _case(case_id: str = "c1", patient: str | None = None, notes: str = NOTES) -> LabeledCase:
    obs = [
        Observation(code="8310-5", value=38.2, unit="Cel"),
        Observation(code="8867-4", value=104, unit="/min"),
    ]
    case = Case(case_id=case_id, patient_id=patient, notes=notes, observations=obs)
    return LabeledCase(case=case, label="Pneumonia", differential={"Pneumonia": 1.0})


def test_dropout_removes_clauses_and_observations() -> None:
    lc = _case()
    results = [evidence_dropout(lc, random.Random(s), p=0.5) for s in range(30)]
    assert any(len(r.case.notes) < len(NOTES) for r in results)
    assert any(len(r.case.observations) < 2 for r in results)
    for r in results:
        for sentence in r.case.notes.split(". "):
            assert sentence.rstrip(".") in NOTES  # only whole clauses, never rewritten
        assert r.label == "Pneumonia"
    assert lc.case.notes == NOTES  # the original is untouched


def test_dropout_keeps_some_evidence() -> None:
    lc = _case()
    for seed in range(50):
        out = evidence_dropout(lc, random.Random(seed), p=0.99)
        assert out.case.notes or out.case.observations
    with pytest.raises(InputError, match=r"0 <= p < 1"):
        evidence_dropout(lc, random.Random(0), p=1.0)


def test_paraphrase_english_and_chinese() -> None:
    rng = random.Random(0)
    out = paraphrase_text("Shortness of breath and runny nose.", rng, p=1.0)
    assert "shortness of breath" not in out.lower() and "runny nose" not in out.lower()
    assert out[0].isupper()
    assert paraphrase_text("主诉：发烧，咳嗽。", random.Random(1), p=1.0).count("发热") == 1
    assert paraphrase_text("Nothing to change here", rng) == "Nothing to change here"
    rewritten = {paraphrase_text("I have been coughing.", random.Random(s)) for s in range(20)}
    assert "I've been coughing." in rewritten or "Patient reports coughing." in rewritten
    lc = _case(notes="Breathlessness at night.")
    assert paraphrase(lc, random.Random(0)).case.notes != lc.case.notes


def test_augment_ids_patients_and_reproducibility() -> None:
    data = [_case("c1", "p1"), _case("c2")]
    out = augment(data, factor=3, seed=7)
    assert [lc.case.case_id for lc in out] == [
        "c1",
        "c2",
        "c1-aug1",
        "c1-aug2",
        "c2-aug1",
        "c2-aug2",
    ]
    assert [lc.case.patient_id for lc in out[2:]] == ["p1", "p1", "c2", "c2"]
    assert out[:2] == data
    assert augment(data, factor=3, seed=7) == out
    assert augment(data, factor=3, seed=8) != out
    assert all(lc.label == "Pneumonia" and lc.differential for lc in out)
    assert augment(data, factor=1) == data
    with pytest.raises(InputError, match=r"found factor=0"):
        augment(data, factor=0)


def test_augment_after_split_keeps_parts_disjoint() -> None:
    data = [_case(f"c{i}", f"p{i}") for i in range(30)]
    split = train_val_test_split(data, seed=0)
    train = augment(split.train, factor=2)
    test_patients = {lc.case.patient_id for lc in split.test}
    assert len(train) == 2 * len(split.train)
    assert not {lc.case.patient_id for lc in train} & test_patients
