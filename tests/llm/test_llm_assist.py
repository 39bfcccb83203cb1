"""LLM-assisted differential against the tiny server: combine, or fall back with a warning."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tiny_llm_server import ServerThread, make_client

from dxkit.cases.schema import Case
from dxkit.deid.cases import deidentify_cases
from dxkit.llm.assist import assist_differential, request_assessment
from dxkit.llm.combine import combine_probabilities, fit_weight, rank_distribution
from dxkit.models.llm import LLMClient
from dxkit.report.differential import Differential


def _codes(answer: Differential) -> list[str]:
    return [w.code for w in answer.warnings]


def test_happy_path_validated_json_and_combination(
    server: ServerThread, client: LLMClient, case: Case, answer: Differential
) -> None:
    found = request_assessment(client, case, answer)
    assert found.schema_enforced and found.ranking
    result = assist_differential(case, answer, client, weight=0.5)
    assert result.used_llm and result.weight == 0.5
    probs = [c.probability for c in result.differential.conditions]
    assert probs == sorted(probs, reverse=True)
    assert sum(probs) <= 1.0 + 1e-3
    assert result.differential.triage == answer.triage  # never the LLM's to change
    assert result.differential.prediction_set == answer.prediction_set
    sent = json.loads(server.state.bodies[-1])
    assert sent["response_format"]["type"] == "json_schema"


def test_weight_zero_keeps_the_models_ranking(
    server: ServerThread, client: LLMClient, case: Case, answer: Differential
) -> None:
    result = assist_differential(case, answer, client, weight=0.0)
    assert result.used_llm
    assert [c.name for c in result.differential.conditions] == [c.name for c in answer.conditions]
    assert [c.probability for c in result.differential.conditions] == [0.6, 0.25, 0.1]


def test_garbage_output_falls_back_with_a_warning(
    server: ServerThread, client: LLMClient, case: Case, answer: Differential
) -> None:
    server.state.mode = "garbage"
    result = assist_differential(case, answer, client, weight=0.5)
    assert not result.used_llm
    assert result.differential.conditions == answer.conditions
    assert _codes(result.differential) == ["llm_fallback"]
    assert "invalid_json" in result.differential.warnings[0].message


def test_unknown_condition_falls_back(
    server: ServerThread, client: LLMClient, case: Case, answer: Differential
) -> None:
    server.state.mode = "scripted"
    server.state.scripted = json.dumps({"ranking": [{"condition": "Dragon pox"}]})
    result = assist_differential(case, answer, client, weight=0.5)
    assert not result.used_llm
    assert "unknown_condition" in result.differential.warnings[0].message


def test_icd10_names_resolve_and_ungrounded_additions_are_dropped(
    server: ServerThread, client: LLMClient, case: Case, answer: Differential
) -> None:
    server.state.mode = "scripted"
    server.state.scripted = json.dumps(
        {
            "ranking": [{"condition": "I26.9"}, {"condition": "pneumonia"}],
            "additions": [
                {"condition": "Influenza", "evidence": ["fever", "productive cough"]},
                {"condition": "Asthma", "evidence": ["wheeze since childhood"]},
            ],
            "follow_up_questions": ["Any calf swelling?"],
        }
    )
    result = assist_differential(case, answer, client, weight=1.0)
    names = [c.name for c in result.differential.conditions]
    assert names[0] == "Pulmonary embolism"
    assert [name for name, _ in result.additions] == ["Influenza"]
    assert "Asthma" not in names and "Influenza" in names
    assert result.questions == ["Any calf swelling?"]
    assert _codes(result.differential) == ["llm_ungrounded"]


def test_timeout_and_open_circuit_fall_back_quickly(
    server: ServerThread, case: Case, answer: Differential
) -> None:
    server.state.delay_s = 2.0
    client = make_client(server.url, timeout_s=0.3, cooldown_s=30.0)
    first = assist_differential(case, answer, client, weight=0.5)
    second = assist_differential(case, answer, client, weight=0.5)
    assert "timeout" in first.differential.warnings[0].message
    assert "circuit_open" in second.differential.warnings[0].message
    assert second.differential.conditions == answer.conditions


def test_canary_identifier_never_reaches_the_server(
    server: ServerThread, client: LLMClient, answer: Differential
) -> None:
    raw = Case(
        case_id="canary",
        notes="Patient John Canaryfield (MRN 99887766), phone 555-867-5309. Fever and cough.",
        history={"family_history": ["father Peter Canaryfield: asthma"]},
    )
    clean, _ = deidentify_cases([raw])
    assist_differential(clean[0], answer, client, weight=0.5)
    from dxkit.llm.narrative import clinician_narrative, patient_summary

    clinician_narrative(clean[0], answer, client)
    patient_summary(clean[0], answer, "zh", client)
    assert len(server.state.bodies) == 3
    for body in server.state.bodies:
        for canary in ("Canaryfield", "99887766", "867-5309"):
            assert canary not in body
    assert "Fever and cough" in server.state.bodies[0]


def test_raw_case_is_refused(client: LLMClient, answer: Differential) -> None:
    raw = Case(case_id="raw", notes="Fever.")
    with pytest.raises(Exception, match="not marked deidentified"):
        request_assessment(client, raw, answer)


def test_fitted_weight_never_worse_than_the_model_on_validation() -> None:
    rng = np.random.default_rng(0)
    p_model = rng.dirichlet(np.ones(5), size=40)
    y = p_model.argmax(axis=1)
    bad = np.stack([rank_distribution([(int(t) + 1) % 5], 5) for t in y])  # always wrong
    good = np.stack([rank_distribution([int(t)], 5) for t in y])  # always right
    assert fit_weight(p_model, bad, y).weight == 0.0
    fit = fit_weight(p_model, good, y)
    model_nll = fit.table[0][1]
    assert fit.weight > 0 and fit.nll < model_nll
    mixed = combine_probabilities(p_model, good, fit.weight)
    assert np.allclose(mixed.sum(axis=1), 1.0)
