"""DDXPlus and Symptom2Disease loaders: tiny in-memory releases, then the real files."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from dxkit.cases.benchmarks import load_ddxplus, question_to_statement
from dxkit.cases.io import load_labeled
from dxkit.errors import DataNotFoundError, InputError

EVIDENCES = {
    "E_91": {
        "question_en": "Do you have a fever (either felt or measured with a thermometer)?",
        "is_antecedent": False,
        "data_type": "B",
        "value_meaning": {},
    },
    "E_55": {
        "question_en": "Do you feel pain somewhere?",
        "is_antecedent": False,
        "data_type": "M",
        "value_meaning": {
            "V_101": {"en": "lower chest", "fr": "bas du thorax"},
            "V_170": {"en": "side of the chest(L)", "fr": "côté du thorax(G)"},
        },
    },
    "E_56": {
        "question_en": "How intense is the pain?",
        "is_antecedent": False,
        "data_type": "C",
        "value_meaning": {},
    },
    "E_79": {
        "question_en": "Do you smoke cigarettes?",
        "is_antecedent": True,
        "data_type": "B",
        "value_meaning": {},
    },
    "E_125": {
        "question_en": "Have you ever been diagnosed with gastroesophageal reflux?",
        "is_antecedent": True,
        "data_type": "B",
        "value_meaning": {},
    },
}
HEADER = "AGE,DIFFERENTIAL_DIAGNOSIS,SEX,PATHOLOGY,EVIDENCES,INITIAL_EVIDENCE\n"
ROWS = [
    "47,\"[['GERD', 3.0], ['Pneumonia', 1.0]]\",M,GERD,"
    "\"['E_55_@_V_101', 'E_55_@_V_170', 'E_56_@_7', 'E_79', 'E_125', 'E_91']\",E_91\n",
    "93,\"[['Pneumonia', 0.5]]\",F,Pneumonia,\"['E_91']\",E_91\n",
]


@pytest.fixture()
def ddxplus_dir(tmp_path: Path) -> Path:
    (tmp_path / "patients_dev.csv").write_text(HEADER + "".join(ROWS), encoding="utf-8")
    (tmp_path / "release_evidences.json").write_text(json.dumps(EVIDENCES), encoding="utf-8")
    (tmp_path / "release_conditions.json").write_text("{}", encoding="utf-8")
    return tmp_path


def test_question_to_statement_rules() -> None:
    assert question_to_statement("Do you have a cough?") == "Has a cough."
    assert question_to_statement("Are you pregnant?") == "Is pregnant."
    assert question_to_statement("Have you had surgery?") == "Has had surgery."
    assert question_to_statement("Do you smoke cigarettes?") == "Smokes cigarettes."
    assert question_to_statement("Is your nose itchy?") == "Yes: Is your nose itchy?"
    assert "wake them up" in question_to_statement("Do you have pain that wake you up?")


def test_ddxplus_renders_notes_history_and_differential(ddxplus_dir: Path) -> None:
    cases = load_ddxplus(ddxplus_dir / "patients_dev.csv")
    first = cases[0]
    notes = first.case.notes
    assert notes.startswith("Chief complaint: Has a fever (either felt or measured")
    assert "Pain location: lower chest, side of the chest(L)." in notes
    assert "Pain intensity 7/10." in notes
    symptoms, history = notes.split(" History: ")
    assert "Smokes cigarettes." in history and "Smokes" not in symptoms
    assert first.case.history.past_conditions == ["gastroesophageal reflux"]
    assert first.case.case_id == first.case.patient_id == "ddxplus-0"
    assert first.case.age == 47 and first.case.sex.value == "male"
    assert first.label == "GERD"
    assert first.differential == {"GERD": 0.75, "Pneumonia": 0.25}
    assert cases[1].differential == {"Pneumonia": 1.0}
    assert cases[1].case.sex.value == "female"


def test_ddxplus_limit_and_dispatcher(ddxplus_dir: Path) -> None:
    cases = load_labeled(ddxplus_dir / "patients_dev.csv", "ddxplus", limit=1)
    assert [c.case.case_id for c in cases] == ["ddxplus-0"]
    from dxkit.cases import benchmarks

    assert len(benchmarks.load_labeled(ddxplus_dir, "ddxplus")) == 2  # the release folder


def test_ddxplus_missing_files(ddxplus_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"pass --data PATH to the file patients_dev.csv"):
        load_ddxplus(tmp_path / "nope.csv")
    (ddxplus_dir / "release_evidences.json").unlink()
    with pytest.raises(DataNotFoundError, match=r"put release_evidences.json beside"):
        load_ddxplus(ddxplus_dir / "patients_dev.csv")


def test_ddxplus_unknown_evidence_code(ddxplus_dir: Path) -> None:
    bad = HEADER + "30,\"[['GERD', 1.0]]\",F,GERD,\"['E_999']\",E_999\n"
    (ddxplus_dir / "patients_dev.csv").write_text(bad, encoding="utf-8")
    with pytest.raises(InputError, match=r"found 'E_999'"):
        load_ddxplus(ddxplus_dir / "patients_dev.csv")


def test_symptom2disease_drops_duplicate_texts(tmp_path: Path) -> None:
    path = tmp_path / "s2d.csv"
    path.write_text(
        'index,label,text\n0,Psoriasis,"Red, scaly skin."\n1,Psoriasis,"Red, scaly skin."\n'
        "2,Malaria,I have chills.\n",
        encoding="utf-8",
    )
    cases = load_labeled(path, "symptom2disease")
    assert [(c.case.case_id, c.label) for c in cases] == [
        ("s2d-0", "Psoriasis"),
        ("s2d-2", "Malaria"),
    ]
    assert cases[0].case.notes == "Red, scaly skin."


def test_unknown_format_lists_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"one of ddxplus, symptom2disease, zh, jsonl, csv, fhir"):
        load_labeled(tmp_path, "mimic")


def test_real_ddxplus(shared_data: Path) -> None:
    start = time.perf_counter()
    cases = load_labeled(shared_data / "ddxplus" / "patients_dev.csv", "ddxplus")
    assert time.perf_counter() - start < 5
    assert len(cases) == 1828
    assert len({c.label for c in cases}) == 49
    for c in cases:
        assert c.differential is not None
        assert sum(c.differential.values()) == pytest.approx(1.0)
        assert c.case.notes.startswith("Chief complaint: ")
    assert len({c.case.patient_id for c in cases}) == 1828


def test_real_symptom2disease(shared_data: Path) -> None:
    cases = load_labeled(
        shared_data / "symptom2disease" / "symptom2disease_dev.csv", "symptom2disease"
    )
    assert len({c.label for c in cases}) == 24
    assert len({c.case.notes for c in cases}) == len(cases)
