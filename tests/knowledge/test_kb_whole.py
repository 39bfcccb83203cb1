"""The shipped knowledge base as a whole: breadth, codes, and the data sets it must cover."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from dxkit.knowledge import load_knowledge_base
from dxkit.knowledge.schema import Triage

REQUIRED_CATEGORIES = {
    "respiratory", "cardiovascular", "neurological", "gastrointestinal", "urological", "skin",
    "musculoskeletal", "obstetric_gynaecological", "mental_health", "paediatric", "infectious",
}  # fmt: skip
TIME_CRITICAL = [
    "sepsis", "pulmonary embolism", "myocardial infarction", "stroke", "meningitis",
    "ectopic pregnancy", "testicular torsion", "diabetic ketoacidosis", "aortic dissection",
]  # fmt: skip


def test_breadth_and_categories() -> None:
    kb = load_knowledge_base()
    assert len(kb.conditions) >= 120
    categories = Counter(c.category for c in kb.conditions.values())
    missing = {c for c in REQUIRED_CATEGORIES if not any(c in k for k in categories)}
    assert not missing, f"categories without conditions: {missing}; have {sorted(categories)}"
    assert any("ent" in k or "eye" in k for k in categories)
    assert any("endocrine" in k for k in categories)


def test_time_critical_conditions_are_emergencies() -> None:
    kb = load_knowledge_base()
    for phrase in TIME_CRITICAL:
        hits = [c for c in kb.conditions.values() if phrase in c.name.lower()]
        assert hits, f"no condition named like {phrase!r}"
        assert any(c.triage == Triage.emergency for c in hits), phrase


def test_every_entry_is_coded_sourced_and_triaged() -> None:
    kb = load_knowledge_base()
    levels = Counter(c.triage for c in kb.conditions.values())
    assert set(levels) == set(Triage)
    for cond in kb.conditions.values():
        assert cond.sources and cond.icd10 and cond.snomed
        assert cond.red_flags or cond.triage in (Triage.self_care, Triage.routine)


def test_all_49_ddxplus_pathologies_resolve(shared_data: Path) -> None:
    kb = load_knowledge_base()
    conditions = json.loads((shared_data / "ddxplus" / "release_conditions.json").read_text())
    assert len(conditions) == 49
    unresolved = [name for name in conditions if kb.resolve(name) is None]
    assert not unresolved


def test_symptom_phrasings_are_varied_in_both_languages() -> None:
    kb = load_knowledge_base()
    multi = sum(len(s.en) >= 2 for s in kb.symptoms.values()) / len(kb.symptoms)
    assert multi > 0.9
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in s.zh[0]) for s in kb.symptoms.values())
