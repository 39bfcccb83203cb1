"""Knowledge-base share C: GI/hepatobiliary, urological, skin, MSK, obstetric/gynae, paediatric.

These tests pin what the synthetic cohort and the data-set evaluations rely on: the files
validate against the strict schema, every category is covered, codes are well formed, sex
and age priors are plausible, and every public data-set label of this share resolves.
"""

from __future__ import annotations

import csv
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from dxkit.knowledge import load_knowledge_base
from dxkit.knowledge.loader import KnowledgeBase, observation_keys
from dxkit.knowledge.schema import Condition, Symptom

CONDITION_FILES = {
    "conditions_gi.yaml": "gastrointestinal",
    "conditions_urological.yaml": "urological",
    "conditions_skin.yaml": "skin",
    "conditions_musculoskeletal.yaml": "musculoskeletal",
    "conditions_obgyn.yaml": "obstetric_gynaecological",
    "conditions_paediatric.yaml": "paediatric",
}

DDXPLUS_LABELS = {
    "Boerhaave": "boerhaave_syndrome",
    "Spontaneous rib fracture": "rib_fracture",
    "GERD": "gerd",
    "Inguinal hernia": "inguinal_hernia",
    "Pancreatic neoplasm": "pancreatic_cancer",
}
SYMPTOM2DISEASE_LABELS = {
    "Psoriasis": "psoriasis",
    "Impetigo": "impetigo",
    "Fungal infection": "tinea",
    "Dimorphic Hemorrhoids": "haemorrhoids",
    "Arthritis": "osteoarthritis",
    "Acne": "acne_vulgaris",
    "Cervical spondylosis": "cervical_spondylosis",
    "Jaundice": "acute_viral_hepatitis",
    "urinary tract infection": "lower_uti",
    "gastroesophageal reflux disease": "gerd",
    "peptic ulcer disease": "peptic_ulcer_disease",
}
CHINESE_LABELS = {
    "小儿腹泻": "gastroenteritis",
    "小儿消化不良": "childhood_dyspepsia",
    "新生儿黄疸": "neonatal_jaundice",
    "小儿便秘": "constipation_functional",
    "小儿发热": "fever_without_source_child",
}
REQUIRED_IDS = {
    "appendicitis",
    "acute_cholecystitis",
    "biliary_colic",
    "acute_pancreatitis",
    "small_bowel_obstruction",
    "diverticulitis",
    "irritable_bowel_syndrome",
    "coeliac_disease",
    "inflammatory_bowel_disease",
    "upper_gi_bleed",
    "gastroenteritis",
    "pyelonephritis",
    "renal_colic",
    "testicular_torsion",
    "acute_urinary_retention",
    "benign_prostatic_hyperplasia",
    "acute_kidney_injury",
    "cellulitis",
    "atopic_eczema",
    "urticaria",
    "herpes_zoster",
    "scabies",
    "ectopic_pregnancy",
    "miscarriage",
    "pre_eclampsia",
    "pelvic_inflammatory_disease",
    "ovarian_torsion",
    "endometriosis",
    "gout",
    "mechanical_low_back_pain",
    "sciatica",
    "ankle_sprain",
    "hip_fracture",
    "septic_arthritis",
    "rheumatoid_arthritis",
    "intussusception",
    "pyloric_stenosis",
    "febrile_convulsion",
}


def _read(name: str) -> Any:
    text = resources.files("dxkit.resources").joinpath(f"kb/{name}").read_text(encoding="utf-8")
    return yaml.safe_load(text)


@pytest.fixture(scope="module")
def own_conditions() -> dict[str, Condition]:
    """This share's conditions, validated file by file (independent of other shares)."""
    found: dict[str, Condition] = {}
    for name in CONDITION_FILES:
        for raw in _read(name)["conditions"]:
            condition = Condition.model_validate(raw)
            assert condition.id not in found, f"{condition.id} defined twice"
            found[condition.id] = condition
    return found


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge_base()


def test_own_symptoms_validate_and_have_both_languages() -> None:
    symptoms = [Symptom.model_validate(raw) for raw in _read("symptoms_c.yaml")["symptoms"]]
    assert len(symptoms) >= 100
    for symptom in symptoms:
        assert len(symptom.en) >= 2, symptom.id
        assert symptom.zh, symptom.id


def test_each_file_holds_only_its_category(own_conditions: dict[str, Condition]) -> None:
    for name, category in CONDITION_FILES.items():
        categories = {Condition.model_validate(raw).category for raw in _read(name)["conditions"]}
        assert categories == {category}, name
    assert len(own_conditions) >= 45
    assert set(own_conditions) >= REQUIRED_IDS


def test_links_are_rich_unique_and_sourced(own_conditions: dict[str, Condition]) -> None:
    known_obs = observation_keys()
    for condition in own_conditions.values():
        ids = [link.id for link in condition.symptoms]
        assert 6 <= len(ids) <= 15, condition.id
        assert len(ids) == len(set(ids)), condition.id
        assert set(condition.observations) <= known_obs, condition.id
        assert 1 <= len(condition.sources) <= 3, condition.id
        assert condition.red_flags and condition.risk_factors, condition.id


def test_codes_are_well_formed_and_distinct(own_conditions: dict[str, Condition]) -> None:
    snomeds = [c.snomed for c in own_conditions.values()]
    assert len(snomeds) == len(set(snomeds))
    assert own_conditions["gerd"].icd10 == "K21.9"
    assert own_conditions["boerhaave_syndrome"].icd10 == "K22.3"
    assert own_conditions["appendicitis"].snomed == "85189001"


def test_sex_and_age_priors_follow_epidemiology(own_conditions: dict[str, Condition]) -> None:
    for cid in ("ectopic_pregnancy", "miscarriage", "pre_eclampsia", "ovarian_torsion"):
        assert own_conditions[cid].prior("18-39", "male") == 0
        assert own_conditions[cid].prior("18-39", "female") > 0
    for cid in ("testicular_torsion", "benign_prostatic_hyperplasia"):
        assert own_conditions[cid].prior("65+", "female") == 0
    pyloric = own_conditions["pyloric_stenosis"]
    assert pyloric.prior("0-4", "male") > 0 and pyloric.prior("40-64", "male") == 0
    hip = own_conditions["hip_fracture"]
    assert hip.prior("65+", "female") > 10 * hip.prior("18-39", "female")


def test_own_conditions_are_in_the_shipped_knowledge_base(kb: KnowledgeBase) -> None:
    for cid in REQUIRED_IDS:
        assert kb.conditions[cid].id == cid
    for condition in kb.conditions.values():
        for link in condition.symptoms:
            assert link.id in kb.symptoms


@pytest.mark.parametrize(
    ("label", "expected"),
    [*DDXPLUS_LABELS.items(), *SYMPTOM2DISEASE_LABELS.items(), *CHINESE_LABELS.items()],
)
def test_dataset_labels_resolve(kb: KnowledgeBase, label: str, expected: str) -> None:
    resolved = kb.resolve(label)
    assert resolved is not None and resolved.id == expected


def test_labels_exist_in_the_public_data_sets(shared_data: Path) -> None:
    """Guards against a typo in the pinned labels: each must occur in its data set."""
    ddx = json.loads((shared_data / "ddxplus/release_conditions.json").read_text("utf-8"))
    assert set(DDXPLUS_LABELS) <= set(ddx)
    with (shared_data / "symptom2disease/symptom2disease_dev.csv").open(encoding="utf-8") as fh:
        s2d = {row["label"] for row in csv.DictReader(fh)}
    assert set(SYMPTOM2DISEASE_LABELS) <= s2d
    records = json.loads((shared_data / "zh_meddialog_diagnosis/mz10/train_set.json").read_text())
    assert set(CHINESE_LABELS) <= {r["label"] for r in records}
