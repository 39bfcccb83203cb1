"""FHIR R4 Bundles <-> cases, so EHR exports can be read without custom glue.

One case per Patient: age from ``birthDate`` at the time of the latest Observation, sex
from ``gender``, LOINC-coded quantities as observations, free-text observations and notes
as case notes, and Conditions as history. An active Condition in category
``encounter-diagnosis`` is today's diagnosis; when a patient has exactly one, it becomes
the label. Parsing uses ``fhir.resources.R4B``, which reads and writes R4 JSON for these
resources, so malformed bundles are rejected with the path of the bad element.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dxkit.cases.schema import AGE_CAP, Case, History, LabeledCase, Observation, Sex
from dxkit.errors import DataNotFoundError, InputError

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CASE_ID_SYSTEM = "urn:dxkit:case-id"
PATIENT_ID_SYSTEM = "urn:dxkit:patient-id"
NOTE_CODE = {"coding": [{"system": LOINC, "code": "34109-9", "display": "Note"}]}
_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
_DAYS_PER_YEAR = 365.25


def _bad(found: str, fix: str = "export a valid FHIR R4 Bundle") -> InputError:
    return InputError("FHIR bundle", expected="a valid FHIR R4 Bundle", found=found, fix=fix)


def _parse(path: Path) -> Any:
    from fhir.resources.R4B.bundle import Bundle

    if not path.is_file():
        raise DataNotFoundError(
            "FHIR bundle",
            expected=f"a Bundle JSON file at {path}",
            found="no such file",
            fix="pass the path of an exported FHIR R4 Bundle (.json)",
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise _bad(f"{path.name}: invalid JSON at line {exc.lineno}") from None
    if not isinstance(raw, dict) or raw.get("resourceType") != "Bundle":
        kind = raw.get("resourceType") if isinstance(raw, dict) else type(raw).__name__
        raise _bad(f"{path.name}: resourceType {kind!r}", "wrap resources in a Bundle")
    try:
        return Bundle.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
        raise _bad(f"{path.name}: Bundle{where}: {first['msg']}") from None


def _text(concept: Any) -> str | None:
    if concept is None:
        return None
    if concept.text:
        return str(concept.text)
    for coding in concept.coding or []:
        if coding.display:
            return str(coding.display)
    return None


def _codes(concept: Any, system: str | None = None) -> list[str]:
    if concept is None:
        return []
    return [str(c.code) for c in concept.coding or [] if system is None or c.system == system]


def _to_utc(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    partial = re.fullmatch(r"(\d{4})(?:-(\d{2}))?", str(value)) if value is not None else None
    if partial:  # FHIR allows "1970" and "1970-05": take the middle of the period
        year, month = int(partial.group(1)), partial.group(2)
        if month is None:
            return datetime(year, 7, 1, tzinfo=UTC)
        if 1 <= int(month) <= 12:
            return datetime(year, int(month), 15, tzinfo=UTC)
    return None


class _PatientData:
    def __init__(self, patient: Any) -> None:
        self.patient = patient
        self.notes: list[str] = []
        self.observations: list[Observation] = []
        self.times: list[datetime] = []
        self.diagnoses: list[str] = []
        self.history: list[str] = []


def _add_observation(data: _PatientData, obs: Any) -> None:
    time = _to_utc(obs.effectiveDateTime)
    if time is not None:
        data.times.append(time)
    quantity = obs.valueQuantity
    loinc = _codes(obs.code, LOINC)
    if quantity is not None and quantity.value is not None and loinc:
        unit = quantity.code or quantity.unit or "1"
        data.observations.append(
            Observation(code=loinc[0], value=float(quantity.value), unit=str(unit), time=time)
        )
    if obs.valueString:
        data.notes.append(str(obs.valueString))
    data.notes.extend(str(n.text) for n in obs.note or [] if n.text)


def _add_condition(data: _PatientData, cond: Any) -> None:
    name = _text(cond.code)
    if not name:
        return
    active = "active" in _codes(cond.clinicalStatus)
    encounter = any("encounter-diagnosis" in _codes(c) for c in cond.category or [])
    (data.diagnoses if active and encounter else data.history).append(name)


def _subject(resource: Any, refs: dict[str, _PatientData], only: _PatientData | None) -> Any:
    ref = resource.subject.reference if resource.subject is not None else None
    return refs.get(str(ref)) if ref else only


def _to_case(data: _PatientData, index: int, stem: str) -> LabeledCase | Case:
    p = data.patient
    ids = {str(i.system): str(i.value) for i in p.identifier or [] if i.value}
    case_id = ids.get(CASE_ID_SYSTEM) or str(p.id or f"{stem}-{index}")
    patient_id = ids.get(PATIENT_ID_SYSTEM) or (str(p.id) if p.id else case_id)
    one = data.diagnoses if len(data.diagnoses) == 1 else []
    age = None
    if p.birthDate is not None:
        ref = max(data.times) if data.times else datetime.now(UTC)
        birth = _to_utc(p.birthDate)
        if birth is not None:
            age = round(max((ref - birth).days, 0) / _DAYS_PER_YEAR, 2)
    case = Case(
        case_id=case_id,
        patient_id=patient_id,
        age=age,
        sex=p.gender or Sex.unknown,
        notes=" ".join(data.notes),
        observations=data.observations,
        # several encounter diagnoses: none is the label, all stay visible as history
        history=History(past_conditions=data.history + data.diagnoses[len(one) :]),
    )
    return LabeledCase(case=case, label=one[0]) if one else case


def read_fhir_bundle(path: Path) -> list[LabeledCase | Case]:
    """One case per Patient in the Bundle; labeled where one encounter diagnosis exists."""
    path = Path(path)
    bundle = _parse(path)
    patients: list[_PatientData] = []
    refs: dict[str, _PatientData] = {}
    entries = bundle.entry or []
    for entry in entries:
        res = entry.resource
        if res is not None and res.get_resource_type() == "Patient":
            data = _PatientData(res)
            patients.append(data)
            for ref in (f"Patient/{res.id}" if res.id else None, entry.fullUrl):
                if ref:
                    refs[str(ref)] = data
    if not patients:
        raise _bad(f"{path.name}: no Patient resource", "include the Patient entry")
    only = patients[0] if len(patients) == 1 else None
    for i, entry in enumerate(entries):
        res = entry.resource
        kind = res.get_resource_type() if res is not None else None
        if kind not in ("Observation", "Condition"):
            continue
        data = _subject(res, refs, only)
        if data is None:
            raise _bad(f"{path.name}: Bundle.entry[{i}].resource.subject unresolved")
        (_add_observation if kind == "Observation" else _add_condition)(data, res)
    return [_to_case(d, i, path.stem) for i, d in enumerate(patients)]


def _condition(name: str, ref: str, category: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": _CLINICAL, "code": "active"}]},
        "category": [{"coding": [{"system": _CATEGORY, "code": category}]}],
        "code": {"text": name},
        "subject": {"reference": ref},
    }


def case_to_fhir_bundle(
    case: Case, *, label: str | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """A collection Bundle (R4 JSON) with the Patient, Observations and Conditions of a case.

    ``birthDate`` is derived from the age at the latest observation time (or ``now``) so
    reading the bundle back gives the same age; ages over 89 are exported as 90.
    """
    ref_time = max((o.time for o in case.observations if o.time), default=None)
    ref_time = _to_utc(ref_time) or _to_utc(now) or datetime.now(UTC)
    full_url = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'dxkit:' + case.case_id)}"
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": full_url.rsplit(":", 1)[1],
        "identifier": [{"system": CASE_ID_SYSTEM, "value": case.case_id}]
        + ([{"system": PATIENT_ID_SYSTEM, "value": case.patient_id}] if case.patient_id else []),
        "gender": case.sex.value,
    }
    if case.age is not None:
        age = min(case.age, AGE_CAP + 1)
        patient["birthDate"] = (ref_time - timedelta(days=age * _DAYS_PER_YEAR)).date().isoformat()
    resources: list[dict[str, Any]] = [patient]
    for obs in case.observations:
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": obs.code}]},
            "subject": {"reference": full_url},
            "valueQuantity": {
                "value": obs.value,
                "unit": obs.unit,
                "system": UCUM,
                "code": obs.unit,
            },
        }
        if obs.time is not None:
            resource["effectiveDateTime"] = obs.time.isoformat()
        resources.append(resource)
    if case.notes:
        resources.append(
            {
                "resourceType": "Observation",
                "status": "final",
                "code": NOTE_CODE,
                "subject": {"reference": full_url},
                "valueString": case.notes,
            }
        )
    resources.extend(
        _condition(c, full_url, "problem-list-item") for c in case.history.past_conditions
    )
    if label is not None:
        resources.append(_condition(label, full_url, "encounter-diagnosis"))
    entries = [{"fullUrl": full_url, "resource": resources[0]}]
    entries.extend({"resource": r} for r in resources[1:])
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}
