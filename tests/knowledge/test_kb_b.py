"""Knowledge-base share B: cardiovascular, neurological, mental health, endocrine,
haematology and immunology conditions load, are coded, and answer to data-set labels.

Why: the synthetic cohort and the evaluation harness look conditions up by the exact
labels public data sets use; a renamed alias or a malformed code would silently drop a
class from training or scoring.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pytest
import yaml

from dxkit.knowledge import load_knowledge_base
from dxkit.knowledge.loader import KnowledgeBase, observation_keys

MY_FILES = (
    "conditions_cardiovascular.yaml",
    "conditions_neurological.yaml",
    "conditions_mental_health.yaml",
    "conditions_endocrine_haem_immune.yaml",
)
MY_CATEGORIES = {
    "cardiovascular",
    "neurological",
    "mental_health",
    "endocrine",
    "haematology",
    "immunology",
}
DDXPLUS_LABELS = {
    "Cluster headache": "cluster_headache",
    "Anemia": "anaemia",
    "Myasthenia gravis": "myasthenia_gravis",
    "Anaphylaxis": "anaphylaxis",
    "Guillain-Barré syndrome": "guillain_barre_syndrome",
    "PSVT": "psvt",
    "Atrial fibrillation": "atrial_fibrillation",
    "Scombroid food poisoning": "scombroid_food_poisoning",
    "Myocarditis": "myocarditis",
    "Acute dystonic reactions": "acute_dystonic_reaction",
    "Localized edema": "localized_oedema",
    "SLE": "systemic_lupus_erythematosus",
    "Unstable angina": "unstable_angina",
    "Stable angina": "stable_angina",
    "Panic attack": "panic_attack",
    "Possible NSTEMI / STEMI": "acute_myocardial_infarction",
    "Acute pulmonary edema": "acute_pulmonary_oedema",
    "Pericarditis": "pericarditis",
}
SYMPTOM2DISEASE_LABELS = {
    "Hypertension": "hypertension",
    "Migraine": "migraine",
    "diabetes": "type_2_diabetes",
    "Varicose Veins": "varicose_veins",
    "drug reaction": "adverse_drug_reaction",
}
ICD10 = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")


def _raw(name: str) -> dict[str, object]:
    text = resources.files("dxkit.resources").joinpath(f"kb/{name}").read_text("utf-8")
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge_base()


@pytest.fixture(scope="module")
def my_ids() -> list[str]:
    ids: list[str] = []
    for name in MY_FILES:
        conditions = _raw(name)["conditions"]
        assert isinstance(conditions, list)
        ids.extend(str(entry["id"]) for entry in conditions)
    return ids


def test_my_conditions_load_and_cover_my_categories(kb: KnowledgeBase, my_ids: list[str]) -> None:
    assert len(my_ids) >= 45
    assert len(set(my_ids)) == len(my_ids)
    missing = [cid for cid in my_ids if cid not in kb.conditions]
    assert not missing
    categories = {kb.conditions[cid].category for cid in my_ids}
    assert categories == MY_CATEGORIES


def test_codes_are_well_formed(kb: KnowledgeBase, my_ids: list[str]) -> None:
    for cid in my_ids:
        condition = kb.conditions[cid]
        assert ICD10.match(condition.icd10), cid
        assert condition.snomed.isdigit() and 6 <= len(condition.snomed) <= 18, cid
    snomeds = [kb.conditions[cid].snomed for cid in my_ids]
    assert len(set(snomeds)) == len(snomeds), "two conditions share a SNOMED CT id"


def test_entries_are_rich_enough_to_generate_cases(kb: KnowledgeBase, my_ids: list[str]) -> None:
    known_obs = observation_keys()
    for cid in my_ids:
        condition = kb.conditions[cid]
        assert 6 <= len(condition.symptoms) <= 20, cid
        assert condition.sources and condition.red_flags and condition.risk_factors, cid
        assert set(condition.observations) <= known_obs, cid
        assert all(
            all(0 <= w <= 10 for w in weights.values())
            for weights in (condition.age_weights, condition.sex_weights)
        ), cid


def test_discriminating_features_are_encoded(kb: KnowledgeBase) -> None:
    def p(condition_id: str, symptom_id: str) -> float:
        links = {link.id: link.p for link in kb.conditions[condition_id].symptoms}
        return links.get(symptom_id, 0.0)

    assert p("subarachnoid_haemorrhage", "thunderclap_headache") > p("migraine", "headache") - 0.2
    assert p("cluster_headache", "periorbital_pain") > 0.5 > p("tension_headache", "photophobia")
    assert p("diabetic_ketoacidosis", "deep_rapid_breathing") > 0.3
    assert kb.conditions["diabetic_ketoacidosis"].observations["ph"].range[1] < 7.35
    assert kb.conditions["hypoglycaemia"].observations["glucose"].range[1] < 3.9
    assert kb.conditions["hypothyroidism"].sex_weights["female"] > 1.0


def test_symptoms_have_lay_and_chinese_phrasings(kb: KnowledgeBase) -> None:
    symptoms = _raw("symptoms_b.yaml")["symptoms"]
    assert isinstance(symptoms, list) and len(symptoms) >= 60
    for entry in symptoms:
        symptom = kb.symptoms[entry["id"]]
        assert len(symptom.en) >= 2, symptom.id
        assert all(re.search(r"[\u4e00-\u9fff]", text) for text in symptom.zh), symptom.id


@pytest.mark.parametrize("label", sorted({**DDXPLUS_LABELS, **SYMPTOM2DISEASE_LABELS}))
def test_dataset_labels_resolve(kb: KnowledgeBase, label: str) -> None:
    expected = {**DDXPLUS_LABELS, **SYMPTOM2DISEASE_LABELS}[label]
    found = kb.resolve(label)
    assert found is not None and found.id == expected


def test_ddxplus_release_names_resolve(shared_data: Path, kb: KnowledgeBase) -> None:
    path = shared_data / "ddxplus" / "release_conditions.json"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    names = set(json.loads(path.read_text(encoding="utf-8")))
    mine = set(DDXPLUS_LABELS)
    assert mine <= names, sorted(mine - names)
    assert all(kb.resolve(name) is not None for name in mine)
