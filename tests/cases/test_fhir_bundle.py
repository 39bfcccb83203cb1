"""FHIR R4 Bundle reading and the case -> Bundle round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from dxkit.cases.fhir import case_to_fhir_bundle, read_fhir_bundle
from dxkit.cases.io import load_labeled
from dxkit.cases.schema import Case, History, LabeledCase, Observation
from dxkit.errors import DataNotFoundError, InputError

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"


def _condition(name: str, category: str, status: str = "active") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": CLINICAL, "code": status}]},
        "category": [{"coding": [{"system": CATEGORY, "code": category}]}],
        "code": {"coding": [{"system": "http://snomed.info/sct", "display": name}]},
        "subject": {"reference": "Patient/p1"},
    }


BUNDLE: dict[str, Any] = {
    "resourceType": "Bundle",
    "type": "collection",
    "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1", "gender": "female",
                      "birthDate": "1980-01-01"}},
        {"resource": {
            "resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": "2020-01-01T08:00:00Z",
            "valueQuantity": {"value": 38.7, "unit": "C", "system": "http://unitsofmeasure.org",
                              "code": "Cel"},
        }},
        {"resource": {
            "resourceType": "Observation", "status": "final", "code": {"text": "note"},
            "subject": {"reference": "Patient/p1"}, "valueString": "Productive cough.",
            "note": [{"text": "Crackles left base."}],
        }},
        {"resource": _condition("Pneumonia", "encounter-diagnosis")},
        {"resource": _condition("Asthma", "problem-list-item")},
    ],
}  # fmt: skip


def _write(tmp_path: Path, data: Any, name: str = "b.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_read_bundle(tmp_path: Path) -> None:
    [item] = read_fhir_bundle(_write(tmp_path, BUNDLE))
    assert isinstance(item, LabeledCase)
    case = item.case
    assert item.label == "Pneumonia"
    assert case.case_id == case.patient_id == "p1"
    assert case.sex.value == "female"
    assert case.age == pytest.approx(40.0, abs=0.01)  # at the observation time, not today
    assert [(o.code, o.value, o.unit) for o in case.observations] == [("8310-5", 38.7, "Cel")]
    assert case.notes == "Productive cough. Crackles left base."
    assert case.history.past_conditions == ["Asthma"]
    assert load_labeled(tmp_path, "fhir")[0].label == "Pneumonia"  # a folder of bundles


def test_two_diagnoses_give_an_unlabeled_case(tmp_path: Path) -> None:
    data = json.loads(json.dumps(BUNDLE))
    data["entry"].append({"resource": _condition("Influenza", "encounter-diagnosis")})
    path = _write(tmp_path, data)
    [item] = read_fhir_bundle(path)
    assert isinstance(item, Case)
    assert set(item.history.past_conditions) == {"Asthma", "Pneumonia", "Influenza"}
    with pytest.raises(InputError, match=r"patient p1 has none or several"):
        load_labeled(path, "fhir")


def test_bad_bundles(tmp_path: Path) -> None:
    bad = json.loads(json.dumps(BUNDLE))
    bad["entry"][0]["resource"]["birthDate"] = "yesterday"
    with pytest.raises(InputError, match=r"Bundle\.entry\[0\]\.resource\.birthDate"):
        read_fhir_bundle(_write(tmp_path, bad))
    with pytest.raises(InputError, match=r"resourceType 'Patient'"):
        read_fhir_bundle(_write(tmp_path, BUNDLE["entry"][0]["resource"]))
    no_patient = {"resourceType": "Bundle", "type": "collection", "entry": BUNDLE["entry"][1:]}
    with pytest.raises(InputError, match=r"no Patient resource"):
        read_fhir_bundle(_write(tmp_path, no_patient))
    with pytest.raises(DataNotFoundError, match=r"nope.json"):
        read_fhir_bundle(tmp_path / "nope.json")


def test_round_trip(tmp_path: Path) -> None:
    time = datetime(2024, 3, 1, 12, tzinfo=UTC)
    case = Case(
        case_id="case 7/a",
        patient_id="pat-7",
        age=63.4,
        sex="male",
        notes="Chest pain on exertion.",
        history=History(past_conditions=["Hypertension"]),
        observations=[
            Observation(code="8867-4", value=112, unit="/min", time=time),
            Observation(code="8480-6", value=150, unit="mm[Hg]", time=time),
        ],
    )
    bundle = case_to_fhir_bundle(case, label="Stable angina")
    Bundle.model_validate(bundle)  # valid R4(B) JSON
    [item] = read_fhir_bundle(_write(tmp_path, bundle))
    assert isinstance(item, LabeledCase) and item.label == "Stable angina"
    back = item.case
    assert (back.case_id, back.patient_id, back.sex) == ("case 7/a", "pat-7", case.sex)
    assert back.age == pytest.approx(63.4, abs=0.01)
    assert back.notes == case.notes
    assert back.observations == case.observations
    assert back.history.past_conditions == ["Hypertension"]


def test_export_caps_age(tmp_path: Path) -> None:
    bundle = case_to_fhir_bundle(Case(case_id="old", age=101))
    assert bundle["entry"][0]["resource"]["birthDate"] > "1920"
    [back] = read_fhir_bundle(_write(tmp_path, bundle))
    assert isinstance(back, Case) and back.age == pytest.approx(90, abs=0.01)
