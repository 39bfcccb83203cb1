from __future__ import annotations

import pytest

from dxkit.cases.schema import Case, Observation
from dxkit.cases.synthetic import CohortConfig, CohortGenerator
from dxkit.errors import InputError
from dxkit.knowledge.loader import KnowledgeBase
from dxkit.knowledge.schema import Triage
from dxkit.models.tfidf import TfidfModel
from dxkit.report.diagnose import diagnose


@pytest.fixture(scope="module")
def tiny_model(tiny_kb: KnowledgeBase) -> TfidfModel:
    cohort = CohortGenerator(CohortConfig(n=240, seed=0, zh_fraction=0.2), tiny_kb).generate()
    return TfidfModel().fit([lc.case for lc in cohort], [lc.label for lc in cohort])


def test_differential_is_ranked_coded_and_triaged(
    tiny_model: TfidfModel, tiny_kb: KnowledgeBase
) -> None:
    case = Case(case_id="u1", age=30, sex="female", notes="Burning on urination and peeing often.")
    [answer] = diagnose(tiny_model, [case], top=3, kb=tiny_kb)
    assert answer.case_id == "u1"
    assert answer.top.name == "Cystitis"
    assert answer.top.icd10 == "N30.0"
    probs = [c.probability for c in answer.conditions]
    assert probs == sorted(probs, reverse=True)
    assert 0.99 <= sum(probs) <= 1.01  # three labels, all listed
    assert answer.triage.level in set(Triage)
    assert "not a substitute for clinical judgement" in answer.disclaimer


def test_unstable_vitals_escalate_triage(tiny_model: TfidfModel, tiny_kb: KnowledgeBase) -> None:
    calm = Case(case_id="e1", age=30, sex="male", notes="Itchy rash on both arms.")
    sick = calm.model_copy(
        update={
            "case_id": "e2",
            "observations": [
                Observation(code="9279-1", value=30, unit="/min"),
                Observation(code="59408-5", value=88, unit="%"),
                Observation(code="8867-4", value=135, unit="/min"),
                Observation(code="8480-6", value=85, unit="mm[Hg]"),
            ],
        }
    )
    first, second = diagnose(tiny_model, [calm, sick], kb=tiny_kb)
    assert first.top.name == "Eczema"
    assert first.triage.level == Triage.self_care
    assert second.triage.level == Triage.emergency
    assert "NEWS2" in second.triage.reason
    assert second.triage.news2 is not None and second.triage.news2 >= 7


def test_units_are_converted_and_unusual_values_warned(
    tiny_model: TfidfModel, tiny_kb: KnowledgeBase
) -> None:
    case = Case(
        case_id="t1",
        age=95,
        notes="cough and fever",
        observations=[Observation(code="8310-5", value=107.0, unit="[degF]")],
    )
    [answer] = diagnose(tiny_model, [case], kb=tiny_kb)
    assert answer.age == "90+"
    assert any(w.code == "unusual_value" for w in answer.warnings)
    assert "90+" in answer.model_dump_json()


def test_impossible_value_fails_whole_batch_naming_case(
    tiny_model: TfidfModel, tiny_kb: KnowledgeBase
) -> None:
    good = Case(case_id="ok", notes="cough")
    bad = Case(
        case_id="bad-7",
        notes="secret patient text",
        observations=[Observation(code="59408-5", value=150, unit="%")],
    )
    with pytest.raises(InputError, match="case 'bad-7'") as info:
        diagnose(tiny_model, [good, bad], kb=tiny_kb)
    assert "secret patient text" not in str(info.value)
    with pytest.raises(InputError, match="top"):
        diagnose(tiny_model, [good], top=0, kb=tiny_kb)


def test_conformal_set_and_abstention_in_the_answer(tiny_kb: KnowledgeBase) -> None:
    from dxkit.calibrate.temperature import CalibratedModel

    cohort = CohortGenerator(CohortConfig(n=400, seed=3), tiny_kb).generate()
    model = TfidfModel().fit([lc.case for lc in cohort[:250]], [lc.label for lc in cohort[:250]])
    calibrated = CalibratedModel.calibrate(
        model, [lc.case for lc in cohort[250:]], [lc.label for lc in cohort[250:]], alpha=0.1
    )
    clear = Case(case_id="u", notes="itchy rash on the arms, itching at night")
    vague = Case(case_id="v", notes="feeling unwell")
    first, second = diagnose(calibrated, [clear, vague], kb=tiny_kb)
    assert first.alpha == 0.1
    assert first.prediction_set[0] == first.top.name
    assert len(second.prediction_set) >= len(first.prediction_set)
    assert first.abstain is False and first.abstain_reason == ""
    # another confidence, drawn from the same calibration scores
    wider, narrower = (diagnose(calibrated, [vague], kb=tiny_kb, alpha=a)[0] for a in (0.02, 0.3))
    assert (wider.alpha, narrower.alpha) == (0.02, 0.3)
    assert len(wider.prediction_set) >= len(second.prediction_set) >= len(narrower.prediction_set)
    assert len(wider.prediction_set) > len(narrower.prediction_set)
