"""Knowledge-base share A: core symptoms plus respiratory, ENT, eye and infectious conditions.

Why: every other share cites the core symptom ids, the synthetic cohort samples symptoms
and observation values from these entries, and the evaluation harness looks conditions up
by the exact labels public data sets use. A missing core id, a renamed alias or a range
outside the observation catalogue would silently drop or distort a class.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from dxkit.knowledge import load_knowledge_base
from dxkit.knowledge.loader import KnowledgeBase

CONDITION_FILES = (
    "conditions_respiratory.yaml",
    "conditions_ent_eye.yaml",
    "conditions_infectious.yaml",
)
CATEGORIES = {"respiratory", "ent", "eye", "infectious"}
CORE_SYMPTOMS = [
    "fever",
    "chills",
    "fatigue",
    "malaise",
    "weight_loss",
    "night_sweats",
    "loss_of_appetite",
    "headache",
    "dizziness",
    "syncope",
    "confusion",
    "seizure",
    "neck_stiffness",
    "photophobia",
    "cough",
    "productive_cough",
    "dry_cough",
    "haemoptysis",
    "shortness_of_breath",
    "wheeze",
    "chest_pain",
    "pleuritic_chest_pain",
    "palpitations",
    "sore_throat",
    "runny_nose",
    "nasal_congestion",
    "sneezing",
    "hoarse_voice",
    "ear_pain",
    "hearing_loss",
    "eye_pain",
    "red_eye",
    "blurred_vision",
    "nausea",
    "vomiting",
    "diarrhoea",
    "constipation",
    "abdominal_pain",
    "epigastric_pain",
    "right_lower_quadrant_pain",
    "heartburn",
    "bloating",
    "blood_in_stool",
    "jaundice",
    "dysuria",
    "urinary_frequency",
    "haematuria",
    "flank_pain",
    "pelvic_pain",
    "vaginal_bleeding",
    "vaginal_discharge",
    "missed_period",
    "rash",
    "itching",
    "skin_lesion",
    "swelling_legs",
    "joint_pain",
    "joint_swelling",
    "back_pain",
    "muscle_pain",
    "muscle_weakness",
    "numbness",
    "slurred_speech",
    "facial_droop",
    "anxiety",
    "low_mood",
    "insomnia",
    "excessive_thirst",
    "polyuria",
    "cold_intolerance",
    "heat_intolerance",
    "swollen_lymph_nodes",
    "difficulty_swallowing",
    "drooling",
    "stridor",
    "pale_skin",
    "bruising",
    "cyanosis",
    "calf_swelling",
    "leg_pain",
    "crackles",
    "tachypnoea",
]

DDXPLUS_LABELS = {
    "Spontaneous pneumothorax": "spontaneous_pneumothorax",
    "Viral pharyngitis": "viral_pharyngitis",
    "Whooping cough": "whooping_cough",
    "Epiglottitis": "epiglottitis",
    "Acute laryngitis": "acute_laryngitis",
    "Croup": "croup",
    "Bronchiectasis": "bronchiectasis",
    "Allergic sinusitis": "allergic_rhinitis",
    "Larygospasm": "laryngospasm",
    "Tuberculosis": "tuberculosis",
    "Ebola": "ebola",
    "Acute otitis media": "acute_otitis_media",
    "Bronchospasm / acute asthma exacerbation": "asthma_exacerbation",
    "Bronchitis": "acute_bronchitis",
    "Acute COPD exacerbation / infection": "copd_exacerbation",
    "Pulmonary embolism": "pulmonary_embolism",
    "URTI": "urti",
    "Influenza": "influenza",
    "Pneumonia": "pneumonia",
    "Acute rhinosinusitis": "acute_sinusitis",
    "Chronic rhinosinusitis": "chronic_sinusitis",
    "Bronchiolitis": "bronchiolitis",
    "Pulmonary neoplasm": "lung_cancer",
    "Sarcoidosis": "sarcoidosis",
    "HIV (initial infection)": "acute_hiv_infection",
    "Chagas": "chagas_disease",
}
OTHER_LABELS = {
    # Symptom2Disease
    "Pneumonia": "pneumonia",
    "Bronchial Asthma": "asthma",
    "Common Cold": "common_cold",
    "allergy": "allergic_rhinitis",
    "Typhoid": "typhoid",
    "Dengue": "dengue",
    "Malaria": "malaria",
    "Chicken pox": "chickenpox",
    # Chinese medical-dialogue labels
    "上呼吸道感染": "urti",
    "过敏性鼻炎": "allergic_rhinitis",
    "肺炎": "pneumonia",
    "小儿手足口病": "hand_foot_mouth_disease",
    "小儿支气管炎": "acute_bronchitis",
    "小儿支气管肺炎": "pneumonia",
    "小儿感冒": "common_cold",
    "小儿咳嗽": "urti",
}
MUST_HAVE = {
    "covid19", "common_cold", "allergic_rhinitis", "asthma", "copd", "acute_sinusitis",
    "acute_tonsillitis", "peritonsillar_abscess", "otitis_externa", "conjunctivitis",
    "acute_angle_closure_glaucoma", "retinal_detachment", "sepsis", "bacterial_meningitis",
    "infectious_mononucleosis", "hand_foot_mouth_disease", "measles", "lyme_disease",
}  # fmt: skip


@cache
def _raw(name: str) -> dict[str, Any]:
    text = resources.files("dxkit.resources").joinpath(f"kb/{name}").read_text("utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


@cache
def _my_ids() -> set[str]:
    return {c["id"] for name in CONDITION_FILES for c in _raw(name)["conditions"]}


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge_base()


def test_core_symptoms_are_all_defined_with_varied_phrasings() -> None:
    core = {s["id"]: s for s in _raw("symptoms_core.yaml")["symptoms"]}
    missing = [sid for sid in CORE_SYMPTOMS if sid not in core]
    assert not missing, f"core symptom ids missing: {missing}"
    for sid in CORE_SYMPTOMS:
        assert len(core[sid]["en"]) >= 3, sid
        assert len(core[sid]["zh"]) >= 2, sid
        assert len(set(core[sid]["en"])) == len(core[sid]["en"]), f"{sid}: repeated phrasing"


def test_my_conditions_load_and_cover_my_categories(kb: KnowledgeBase) -> None:
    mine = _my_ids()
    assert len(mine) >= 45
    assert mine <= set(kb.conditions)
    assert mine >= MUST_HAVE
    categories = {kb.conditions[cid].category for cid in mine}
    assert categories == CATEGORIES
    for category in CATEGORIES:
        count = sum(kb.conditions[cid].category == category for cid in mine)
        assert count >= 3, f"category {category} has only {count} conditions"


def test_entries_are_complete_enough_to_generate_cases(kb: KnowledgeBase) -> None:
    for cid in _my_ids():
        condition = kb.conditions[cid]
        assert 6 <= len(condition.symptoms) <= 15, f"{cid}: {len(condition.symptoms)} symptoms"
        assert len({link.id for link in condition.symptoms}) == len(condition.symptoms), cid
        assert condition.red_flags and condition.risk_factors, cid
        assert 1 <= len(condition.sources) <= 3, cid


def test_codes_are_well_formed_and_unique() -> None:
    seen: dict[str, str] = {}
    for name in CONDITION_FILES:
        for raw in _raw(name)["conditions"]:
            # YAML would turn an unquoted SNOMED id into an int; keep them strings.
            assert isinstance(raw["snomed"], str), raw["id"]
            assert raw["icd10"] == raw["icd10"].upper(), raw["id"]
            assert raw["snomed"] not in seen, f"{raw['id']} reuses {seen.get(raw['snomed'])}"
            seen[raw["snomed"]] = raw["id"]


def test_observation_ranges_are_abnormal_and_plausible(kb: KnowledgeBase) -> None:
    catalogue = _obs_catalogue()
    for cid in _my_ids():
        for key, shift in kb.conditions[cid].observations.items():
            low, high = shift.range
            normal, plausible = catalogue[key]["normal"], catalogue[key]["plausible"]
            assert plausible[0] <= low <= high <= plausible[1], f"{cid}.{key} implausible"
            inside_normal = normal[0] <= low and high <= normal[1]
            assert not inside_normal, f"{cid}.{key}: range {shift.range} is all normal"


@cache
def _obs_catalogue() -> dict[str, dict[str, list[float]]]:
    text = resources.files("dxkit.resources").joinpath("observations.yaml").read_text("utf-8")
    catalogue: dict[str, dict[str, list[float]]] = yaml.safe_load(text)["observations"]
    return catalogue


def test_impossible_sex_and_age_are_respected(kb: KnowledgeBase) -> None:
    assert kb.conditions["copd"].prior("0-4", "male") == 0.0
    bronchiolitis = kb.conditions["bronchiolitis"]
    assert bronchiolitis.prior("0-4", "female") > 100 * bronchiolitis.prior("40-64", "female")
    pneumothorax = kb.conditions["spontaneous_pneumothorax"]
    assert pneumothorax.prior("18-39", "male") > pneumothorax.prior("18-39", "female")


@pytest.mark.parametrize("label", sorted(DDXPLUS_LABELS))
def test_ddxplus_labels_resolve(kb: KnowledgeBase, label: str) -> None:
    found = kb.resolve(label)
    assert found is not None and found.id == DDXPLUS_LABELS[label]


@pytest.mark.parametrize("label", sorted(OTHER_LABELS))
def test_symptom2disease_and_chinese_labels_resolve(kb: KnowledgeBase, label: str) -> None:
    found = kb.resolve(label)
    assert found is not None and found.id == OTHER_LABELS[label]


def test_urti_and_common_cold_stay_distinct(kb: KnowledgeBase) -> None:
    urti, cold = kb.condition_by_name("URTI"), kb.condition_by_name("Common Cold")
    assert urti.id != cold.id
    assert not {a.lower() for a in urti.aliases} & {a.lower() for a in cold.aliases}


def test_unknown_label_is_reported_by_name(kb: KnowledgeBase) -> None:
    with pytest.raises(KeyError, match="'Dragon pox' is not in the knowledge base"):
        kb.condition_by_name("Dragon pox")


def test_shipped_ddxplus_release_labels_resolve(kb: KnowledgeBase, shared_data: Path) -> None:
    released = json.loads(
        (shared_data / "ddxplus" / "release_conditions.json").read_text(encoding="utf-8")
    )
    for label in DDXPLUS_LABELS:
        assert label in released, f"{label!r} is not a DDXPlus condition name"
        found = kb.resolve(label)
        assert found is not None, label
