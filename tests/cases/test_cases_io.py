"""JSONL and CSV reading and writing, and the read_cases entry point of `dxkit diagnose`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from dxkit.cases.io import (
    ColumnMapping,
    load_csv,
    load_jsonl,
    load_labeled,
    read_cases,
    write_cases_jsonl,
    write_jsonl,
)
from dxkit.cases.schema import Case, History, LabeledCase, Observation
from dxkit.errors import DataNotFoundError, InputError

SECRET = "Mr John Example of 12 Secret Street"


def _labeled() -> list[LabeledCase]:
    return [
        LabeledCase(
            case=Case(
                case_id="a",
                patient_id="p1",
                age=0.5,
                sex="F",
                notes="Cough, fever 2 days.",
                history=History(past_conditions=["asthma"]),
                observations=[Observation(code="8310-5", value=38.9, unit="Cel")],
            ),
            label="Pneumonia",
            differential={"Pneumonia": 0.7, "Bronchitis": 0.3},
        ),
        LabeledCase(case=Case(case_id="b", age=95, notes="发热三天"), label="流感"),
    ]


def test_jsonl_round_trip_caps_old_ages(tmp_path: Path) -> None:
    path = tmp_path / "out" / "cases.jsonl"
    write_jsonl(path, _labeled())
    back = load_labeled(path, "jsonl")
    assert back[0] == _labeled()[0]
    assert back[1].case.notes == "发热三天" and back[1].label == "流感"
    assert back[1].case.age == 90  # written as "90+"
    assert '"age": "90+"' in path.read_text("utf-8")
    assert not list(path.parent.glob("*.tmp"))


def test_jsonl_errors_name_line_and_field_not_notes(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = json.dumps({"case_id": "1", "notes": SECRET, "diagnosis": "x"})
    bad = json.dumps({"case_id": "2", "notes": SECRET, "age": "old", "diagnosis": "x"})
    path.write_text(good + "\n\n" + bad + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.jsonl line 3: field age") as info:
        load_jsonl(path)
    assert "Secret" not in str(info.value)
    path.write_text(json.dumps({"case_id": "1", "notes": SECRET}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 1: diagnosis missing"):
        load_jsonl(path)
    path.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 1: Expecting property name"):
        load_jsonl(path)
    with pytest.raises(DataNotFoundError, match=r"missing.jsonl"):
        load_jsonl(tmp_path / "missing.jsonl")


def test_read_cases_json_and_jsonl(tmp_path: Path) -> None:
    single = tmp_path / "one.json"
    single.write_text(json.dumps({"case_id": "x", "age": 40, "notes": "Headache."}), "utf-8")
    assert read_cases(single) == [Case(case_id="x", age=40, notes="Headache.")]
    many = tmp_path / "many.jsonl"
    write_jsonl(many, _labeled())  # diagnosis keys are ignored
    assert [c.case_id for c in read_cases(many)] == ["a", "b"]
    unlabeled = tmp_path / "unlabeled.jsonl"
    write_cases_jsonl(unlabeled, [lc.case for lc in _labeled()])
    assert read_cases(unlabeled)[0] == _labeled()[0].case
    single.write_text(json.dumps({"case_id": "x", "colour": "red"}), "utf-8")
    with pytest.raises(InputError, match=r"one.json item 0: field colour"):
        read_cases(single)


CSV_TEXT = (
    "id,Description,Extra,Diagnosis,Age,Gender,temp_f\n"
    "r1,Cough.,Fever.,Flu,34,m,101.3\n"
    "r2,Rash.,,Measles,5,F,\n"
)


def test_csv_with_explicit_mapping(tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    mapping = ColumnMapping(
        text=["Description", "Extra"],
        label="Diagnosis",
        case_id="id",
        age="Age",
        sex="Gender",
        observations={"temp_f": "8310-5 [degF]"},
    )
    cases = load_labeled(path, "csv", mapping=mapping)
    assert cases[0].case.notes == "Cough. Fever."
    assert cases[0].case.observations == [Observation(code="8310-5", value=101.3, unit="[degF]")]
    assert (cases[0].case.case_id, cases[0].case.age, cases[0].case.sex.value) == ("r1", 34, "male")
    assert cases[1].case.observations == [] and cases[1].label == "Measles"


def test_csv_guessed_mapping(tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    guessed = ColumnMapping.guess(CSV_TEXT.splitlines()[0].split(","))
    assert (guessed.text, guessed.label, guessed.case_id) == ("Description", "Diagnosis", "id")
    cases = load_csv(path, limit=1)
    assert [(c.case.case_id, c.case.notes, c.label) for c in cases] == [("r1", "Cough.", "Flu")]


def test_csv_errors(tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    with pytest.raises(InputError, match=r"a column named 'notes'; found columns \['id'"):
        load_csv(path, mapping=ColumnMapping(text="notes", label="Diagnosis"))
    with pytest.raises(ValidationError, match=r"spec must be '<LOINC> <unit>'"):
        ColumnMapping(observations={"temp_f": "8310-5"})
    with pytest.raises(ValidationError, match=r"Extra inputs"):
        ColumnMapping(colour="x")  # type: ignore[call-arg]
    path.write_text("text,label,hr\nCough,Flu,fast\n", encoding="utf-8")
    mapping = ColumnMapping(observations={"hr": "8867-4 /min"})
    with pytest.raises(InputError, match=r"cases.csv row 2: 'fast'"):
        load_csv(path, mapping=mapping)
    path.write_text("text,label\nCough,\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"row 2: empty"):
        load_csv(path)
