"""Tabular public sets (Kaggle disease-symptom, UCI heart, Pima, MTSamples): tiny files
written to tmp_path, then the real files when the shared data are present."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from dxkit.cases.benchmarks_tabular import load_kaggle, load_mtsamples, load_pima, load_uci_heart
from dxkit.cases.io import FORMATS, load_labeled
from dxkit.cases.schema import LabeledCase, Sex
from dxkit.errors import DataNotFoundError, InputError
from dxkit.quality.validate import validate_case

KAGGLE = (
    "itching,skin_rash,nodal_skin_eruptions,spotting_ urination,fluid_overload,"
    "fluid_overload,prognosis\n"
    "1,1,1,0,0,0,Fungal infection \n"
    "0,0,0,1,1,1,Urinary tract infection\n"
    "0,0,0,0,0,0,Allergy\n"
)
UCI = (
    "63.0,1.0,1.0,145.0,233.0,1.0,2.0,150.0,0.0,2.3,3.0,0.0,6.0,0\n"
    "67,0,4,0,0,?,0,108,1,1.5,2,3,3,2\n"
)
PIMA = (
    "NumTimesPrg,PlGlcConc,BloodP,SkinThick,TwoHourSerIns,BMI,DiPedFunc,Age,target\n"
    "6,148,72,35,0,33.6,0.627,50,1\n"
    "0,0,0,0,0,0,0.351,31,0\n"
)
MTSAMPLES = [
    ["row_id", "description", "medical_specialty", "sample_name", "transcription", "keywords"],
    ["0", " Allergies.", " Allergy / Immunology", "x", "SUBJECTIVE:,  Sneezing.", "k"],
    ["1", " Kidney stone.", " Urology", "y", "", "k"],
    ["2", "", " Urology", "z", "", "k"],
]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _mtsamples(path: Path, rows: list[list[str]] = MTSAMPLES) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def _all_valid(cases: list[LabeledCase]) -> None:
    for labeled in cases:
        validate_case(labeled.case)  # raises InputError on an unusable case


def test_formats_are_listed() -> None:
    assert {"kaggle", "uci_heart", "pima", "mtsamples"} <= set(FORMATS)


def test_kaggle(tmp_path: Path) -> None:
    _write(tmp_path / "Training.csv", KAGGLE)
    cases = load_labeled(tmp_path, "kaggle")  # a folder stands for Training.csv
    assert [c.case.notes for c in cases] == [
        "Symptoms: itching, skin rash, nodal skin eruptions.",
        "Symptoms: spotting urination, fluid overload.",
        "Symptoms: none reported.",
    ]
    assert [c.label for c in cases] == ["Fungal infection", "Urinary tract infection", "Allergy"]
    assert [c.case.case_id for c in cases] == ["kaggle-0", "kaggle-1", "kaggle-2"]
    testing = _write(tmp_path / "Testing.csv", KAGGLE)
    assert len(load_kaggle(testing, limit=2)) == 2
    _all_valid(cases)


def test_uci_heart(tmp_path: Path) -> None:
    path = _write(tmp_path / "processed.cleveland.data", UCI)
    first, second = load_labeled(path, "uci_heart")
    assert first.case.case_id == "uci-cleveland-0"
    assert (first.case.age, first.case.sex, first.label) == (63, Sex.male, "no heart disease")
    assert [(o.code, o.value, o.unit) for o in first.case.observations] == [
        ("8480-6", 145.0, "mm[Hg]"),
        ("8867-4", 150.0, "/min"),
    ]
    notes = first.case.notes.lower()
    for phrase in ("typical angina", "serum cholesterol 233 mg/dl", "above 120 mg/dl"):
        assert phrase in notes
    assert "left ventricular hypertrophy" in notes and "no exercise-induced angina" in notes
    assert "downsloping" in notes and "fixed defect" in notes
    # Resting BP 0 and cholesterol 0 mean "not measured": no observation, no phrase.
    assert [o.code for o in second.case.observations] == ["8867-4"]
    assert "cholesterol" not in second.case.notes and "fasting" not in second.case.notes
    assert second.case.sex is Sex.female and second.label == "heart disease"
    assert "asymptomatic" in second.case.notes and "Exercise-induced angina." in second.case.notes
    _all_valid([first, second])


def test_uci_heart_folder_reads_every_site(tmp_path: Path) -> None:
    _write(tmp_path / "processed.cleveland.data", UCI)
    _write(tmp_path / "processed.va.data", UCI)
    cases = load_uci_heart(tmp_path)
    assert [c.case.case_id for c in cases] == [
        "uci-cleveland-0",
        "uci-cleveland-1",
        "uci-va-0",
        "uci-va-1",
    ]
    assert len(load_uci_heart(tmp_path, limit=3)) == 3


def test_pima(tmp_path: Path) -> None:
    path = _write(tmp_path / "pima-indians-diabetes.csv", PIMA)
    first, second = load_labeled(tmp_path, "pima")
    assert first.case.sex is Sex.female and first.case.age == 50 and first.label == "diabetes"
    assert [(o.code, o.value, o.unit) for o in first.case.observations] == [
        ("2339-0", 148.0, "mg/dL"),
        ("8462-4", 72.0, "mm[Hg]"),
    ]
    assert "33.6 kg/m2" in first.case.notes and "insulin" not in first.case.notes
    # Zeros are missing values: no observations, and only the non-zero facts in notes.
    assert second.case.observations == [] and second.label == "no diabetes"
    assert second.case.notes == "Pregnancies: 0. Diabetes pedigree function 0.351."
    assert second.case.case_id == "pima-1"
    assert len(load_pima(path, limit=1)) == 1
    _all_valid([first, second])


def test_mtsamples(tmp_path: Path) -> None:
    path = _mtsamples(tmp_path / "mtsamples.csv")
    cases = load_labeled(path, "mtsamples")
    assert [c.case.notes for c in cases] == ["SUBJECTIVE:  Sneezing.", "Kidney stone."]
    assert [c.label for c in cases] == ["Allergy / Immunology", "Urology"]
    assert [c.case.case_id for c in cases] == ["mtsamples-0", "mtsamples-1"]
    _all_valid(cases)


@pytest.mark.parametrize("fmt", ["kaggle", "uci_heart", "pima", "mtsamples"])
def test_missing_path_says_what_and_how(tmp_path: Path, fmt: str) -> None:
    with pytest.raises(DataNotFoundError) as info:
        load_labeled(tmp_path / "nowhere", fmt)
    assert "nowhere" in info.value.expected and "--data" in info.value.fix


def test_missing_columns_are_named_without_note_text(tmp_path: Path) -> None:
    bad = _write(tmp_path / "k.csv", "itching,disease\n1,Allergy\n")
    with pytest.raises(InputError, match=r"prognosis.*found columns \['itching', 'disease'\]"):
        load_kaggle(bad)
    bad = _write(tmp_path / "p.csv", "Glucose,Age,Outcome\n1,2,0\n")
    with pytest.raises(InputError, match=r"PlGlcConc.*found columns \['Glucose'"):
        load_pima(bad)
    with pytest.raises(InputError, match=r"14|num"):
        load_uci_heart(_write(tmp_path / "processed.x.data", "63,1,1\n"))
    rows = [["description", "specialty", "note"], ["secret words", "Urology", "more secret"]]
    with pytest.raises(InputError) as info:
        load_mtsamples(_mtsamples(tmp_path / "m.csv", rows))
    assert "medical_specialty" in str(info.value) and "secret" not in str(info.value)


def test_unknown_format_lists_new_names(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"uci_heart"):
        load_labeled(tmp_path, "nope")


def test_real_kaggle(shared_data: Path) -> None:
    folder = shared_data / "kaggle_disease_symptom"
    cases = load_labeled(folder, "kaggle")
    counts = Counter(c.label for c in cases)
    assert len(cases) == 4920 and len(counts) == 41 and set(counts.values()) == {120}
    testing = load_labeled(folder / "Testing.csv", "kaggle")
    assert len(testing) == 41 and {c.label for c in testing} == set(counts)
    _all_valid(cases)


def test_real_uci_heart(shared_data: Path) -> None:
    folder = shared_data / "uci_heart_disease"
    cases = load_labeled(folder, "uci_heart")
    sites = Counter(c.case.case_id.split("-")[1] for c in cases)
    assert sites == {"cleveland": 303, "hungarian": 294, "switzerland": 123, "va": 200}
    cleveland = load_labeled(folder / "processed.cleveland.data", "uci_heart")
    assert Counter(c.label for c in cleveland) == {"no heart disease": 164, "heart disease": 139}
    assert Counter(c.label for c in cases) == {"heart disease": 509, "no heart disease": 411}
    assert all(o.code in ("8480-6", "8867-4") for c in cases for o in c.case.observations)
    _all_valid(cases)


def test_real_pima(shared_data: Path) -> None:
    cases = load_labeled(shared_data / "pima_diabetes", "pima")
    assert len(cases) == 768
    assert Counter(c.label for c in cases) == {"no diabetes": 500, "diabetes": 268}
    codes = Counter(o.code for c in cases for o in c.case.observations)
    assert codes == {"2339-0": 768 - 5, "8462-4": 768 - 35}  # zeros per SOURCE.md
    _all_valid(cases)


def test_real_mtsamples(shared_data: Path) -> None:
    cases = load_labeled(shared_data / "mtsamples_partial", "mtsamples")
    assert len(cases) == 321
    counts = Counter(c.label for c in cases)
    assert counts["Urology"] == 158 and counts["Surgery"] == 143 and len(counts) == 8
    _all_valid(cases)
