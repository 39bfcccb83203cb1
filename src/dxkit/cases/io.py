"""Read and write cases: JSONL, CSV with a column mapping, FHIR R4 Bundles, benchmarks.

One dispatcher, :func:`load_labeled`, turns any supported source into ``list[LabeledCase]``
so training and evaluation never branch on where data came from. Error messages name the
file, line and field, never the notes text, because notes may hold patient identifiers.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dxkit.cases.fhir import case_to_fhir_bundle, read_fhir_bundle
from dxkit.cases.schema import AGE_CAP, Case, LabeledCase, Observation, public_age
from dxkit.errors import DataNotFoundError, InputError
from dxkit.models.base import atomic_write_text

FORMATS = (
    "ddxplus",
    "symptom2disease",
    "zh",
    "jsonl",
    "csv",
    "fhir",
    "kaggle",
    "uci_heart",
    "pima",
    "mtsamples",
)
__all__ = [
    "FORMATS",
    "ColumnMapping",
    "case_to_fhir_bundle",
    "load_csv",
    "load_jsonl",
    "load_labeled",
    "read_cases",
    "read_fhir_bundle",
    "write_cases_jsonl",
    "write_jsonl",
]


def _require_file(path: Path, what: str, fix: str) -> None:
    if not path.is_file():
        raise DataNotFoundError(what, expected=f"the file {path}", found="no such file", fix=fix)


def _field_error(exc: ValidationError, where: str) -> InputError:
    """Pydantic error -> InputError naming the field path; input values are not quoted."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(record)"
    return InputError(
        "case record",
        expected="a valid dxkit case (see dxkit.cases.schema.Case)",
        found=f"{where}: field {field}: {first['msg']}",
        fix=f"correct field {field} at {where}",
    )


def _case_json(case: Case) -> dict[str, Any]:
    """Case as stored JSON: exact age, except ages over 89 are written as "90+"."""
    data = case.model_dump(mode="json", exclude_none=True)
    if case.age is not None and case.age > AGE_CAP:
        data["age"] = public_age(case.age)
    return data


def _json_lines(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(
                    "JSONL file",
                    expected="one JSON object per line",
                    found=f"{path.name} line {line_no}: {exc.msg} at column {exc.colno}",
                    fix=f"fix or remove line {line_no}",
                ) from None
            if not isinstance(record, dict):
                raise InputError(
                    "JSONL file",
                    expected="one JSON object per line",
                    found=f"{path.name} line {line_no}: a {type(record).__name__}",
                    fix=f"make line {line_no} a JSON object",
                )
            yield line_no, record


def _parse_labeled(record: dict[str, Any], where: str) -> LabeledCase:
    record = dict(record)
    label = record.pop("diagnosis", None)
    differential = record.pop("differential", None)
    if not isinstance(label, str) or not label.strip():
        raise InputError(
            "labeled case",
            expected='a non-empty string "diagnosis" key',
            found=f"{where}: diagnosis missing or not a string",
            fix='add "diagnosis": "<condition>" to every line used for training or evaluation',
        )
    try:
        return LabeledCase(case=Case(**record), label=label, differential=differential)
    except ValidationError as exc:
        raise _field_error(exc, where) from None


def load_jsonl(path: Path, *, limit: int | None = None) -> list[LabeledCase]:
    """Each line: a case JSON object plus ``diagnosis`` and optional ``differential``."""
    path = Path(path)
    _require_file(path, "JSONL file", "pass the path of an existing .jsonl file")
    out: list[LabeledCase] = []
    for line_no, record in _json_lines(path):
        if limit is not None and len(out) >= limit:
            break
        out.append(_parse_labeled(record, f"{path.name} line {line_no}"))
    return out


def read_cases(path: Path) -> list[Case]:
    """Cases to diagnose: one JSON object (``.json``) or JSONL; labels, if any, are ignored."""
    path = Path(path)
    _require_file(path, "case file", "pass a .json case or a .jsonl file of cases")
    records: list[tuple[str, dict[str, Any]]]
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(
                "case file",
                expected="a JSON object (or array of objects)",
                found=f"{path.name}: {exc.msg} at line {exc.lineno}",
                fix="check the JSON syntax, or use .jsonl for one case per line",
            ) from None
        items = data if isinstance(data, list) else [data]
        records = [(f"{path.name} item {i}", r) for i, r in enumerate(items)]
    else:
        records = [(f"{path.name} line {n}", r) for n, r in _json_lines(path)]
    cases = []
    for where, record in records:
        if not isinstance(record, dict):
            raise InputError(
                "case file",
                expected="JSON objects",
                found=f"{where}: {type(record).__name__}",
                fix="write each case as a JSON object",
            )
        fields = {k: v for k, v in record.items() if k not in ("diagnosis", "differential")}
        try:
            cases.append(Case(**fields))
        except ValidationError as exc:
            raise _field_error(exc, where) from None
    if not cases:
        raise InputError(
            "case file",
            expected="at least one case",
            found=f"{path.name} holds none",
            fix="write one JSON case per line (or a JSON object) into the file",
        )
    return cases


def write_jsonl(path: Path, labeled: Sequence[LabeledCase]) -> None:
    """Write labeled cases as JSONL (readable by :func:`load_jsonl`), atomically."""
    lines = []
    for lc in labeled:
        data = _case_json(lc.case)
        data["diagnosis"] = lc.label
        if lc.differential is not None:
            data["differential"] = lc.differential
        lines.append(json.dumps(data, ensure_ascii=False))
    atomic_write_text(Path(path), "".join(line + "\n" for line in lines))


def write_cases_jsonl(path: Path, cases: Sequence[Case]) -> None:
    """Write unlabeled cases as JSONL (readable by :func:`read_cases`), atomically."""
    text = "".join(json.dumps(_case_json(c), ensure_ascii=False) + "\n" for c in cases)
    atomic_write_text(Path(path), text)


_GUESSES = {
    "text": ("text", "notes", "note", "description", "symptoms", "transcription"),
    "label": ("label", "diagnosis", "disease", "condition", "prognosis", "pathology"),
    "case_id": ("case_id", "id", "index"),
    "patient_id": ("patient_id", "patient", "subject_id"),
    "age": ("age",),
    "sex": ("sex", "gender"),
}


class ColumnMapping(BaseModel):
    """Which CSV columns hold the notes, label and structured facts of a case.

    ``observations`` maps a column to ``"<LOINC> <UCUM unit>"``, e.g.
    ``{"temp_c": "8310-5 Cel"}``, so device columns become typed observations.
    """

    model_config = ConfigDict(extra="forbid")
    text: str | list[str] = "text"
    label: str = "label"
    case_id: str | None = None
    patient_id: str | None = None
    age: str | None = None
    sex: str | None = None
    observations: dict[str, str] = Field(default_factory=dict)

    @field_validator("observations")
    @classmethod
    def _check_specs(cls, value: dict[str, str]) -> dict[str, str]:
        for column, spec in value.items():
            if len(spec.split()) != 2:
                raise ValueError(f"column {column!r}: spec must be '<LOINC> <unit>'")
        return value

    @classmethod
    def guess(cls, columns: Sequence[str]) -> ColumnMapping:
        """A mapping from common column names (text/notes, label/diagnosis, age, sex...)."""
        lower = {c.strip().lower(): c for c in columns}
        found: dict[str, str] = {}
        for field, names in _GUESSES.items():
            hit = next((lower[n] for n in names if n in lower), None)
            if hit is not None:
                found[field] = hit
        return cls(**found)

    def columns(self) -> list[str]:
        """Every column this mapping reads."""
        text = [self.text] if isinstance(self.text, str) else list(self.text)
        optional = [self.case_id, self.patient_id, self.age, self.sex]
        return [*text, self.label, *(c for c in optional if c), *self.observations]


def _csv_case(row: dict[str, str], m: ColumnMapping, case_id: str, where: str) -> LabeledCase:
    text_cols = [m.text] if isinstance(m.text, str) else m.text
    notes = " ".join(row[c].strip() for c in text_cols if row[c] and row[c].strip())
    observations = []
    for column, spec in m.observations.items():
        raw = (row[column] or "").strip()
        if not raw:
            continue
        code, unit = spec.split()
        try:
            observations.append(Observation(code=code, value=float(raw), unit=unit))
        except ValueError:
            raise InputError(
                "CSV observation",
                expected=f"a number in column {column!r}",
                found=f"{where}: {raw[:20]!r}",
                fix="leave the cell empty when not measured, or write a plain number",
            ) from None
    label = (row[m.label] or "").strip()
    if not label:
        raise InputError(
            "CSV label",
            expected=f"a non-empty label in column {m.label!r}",
            found=f"{where}: empty",
            fix="remove unlabeled rows or fill in the diagnosis",
        )
    fields: dict[str, Any] = {"case_id": case_id, "notes": notes, "observations": observations}
    for name in ("patient_id", "age", "sex"):
        column = getattr(m, name)
        if column and (row[column] or "").strip():
            fields[name] = row[column].strip()
    try:
        return LabeledCase(case=Case(**fields), label=label)
    except ValidationError as exc:
        raise _field_error(exc, where) from None


def load_csv(
    path: Path, *, mapping: ColumnMapping | None = None, limit: int | None = None
) -> list[LabeledCase]:
    """Read a CSV with one case per row; ``mapping=None`` guesses common column names."""
    path = Path(path)
    _require_file(path, "CSV file", "pass the path of an existing .csv file")
    out: list[LabeledCase] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        m = mapping or ColumnMapping.guess(header)
        for column in m.columns():
            if column not in header:
                raise InputError(
                    "CSV column mapping",
                    expected=f"a column named {column!r}",
                    found=f"columns {header}",
                    fix="rename the column or pass a ColumnMapping naming the right one",
                )
        for index, row in enumerate(reader):
            if limit is not None and index >= limit:
                break
            case_id = (row[m.case_id] or "").strip() if m.case_id else ""
            where = f"{path.name} row {index + 2}"
            out.append(_csv_case(row, m, case_id or f"{path.stem}-{index}", where))
    return out


def _load_fhir(path: Path, limit: int | None) -> list[LabeledCase]:
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    out: list[LabeledCase] = []
    for file in files:
        for item in read_fhir_bundle(file):
            if not isinstance(item, LabeledCase):
                raise InputError(
                    "FHIR training bundle",
                    expected="one active encounter-diagnosis Condition per Patient",
                    found=f"{file.name}: patient {item.case_id} has none or several",
                    fix="mark exactly one Condition per patient with category "
                    "encounter-diagnosis, or use `dxkit diagnose` for unlabeled bundles",
                )
            out.append(item)
    return out[:limit] if limit is not None else out


def load_labeled(
    path: Path, fmt: str, *, mapping: ColumnMapping | None = None, limit: int | None = None
) -> list[LabeledCase]:
    """Load labeled cases from any supported source; ``fmt`` is one of :data:`FORMATS`."""
    path = Path(path)
    if fmt == "ddxplus":
        from dxkit.cases.benchmarks import load_ddxplus

        return load_ddxplus(path, limit=limit)
    if fmt == "symptom2disease":
        from dxkit.cases.benchmarks import load_symptom2disease

        return load_symptom2disease(path, limit=limit)
    if fmt == "zh":
        from dxkit.cases.benchmarks_zh import load_zh

        return load_zh(path, limit=limit)
    if fmt in ("kaggle", "uci_heart", "pima", "mtsamples"):
        from dxkit.cases.benchmarks_tabular import TABULAR_LOADERS

        return TABULAR_LOADERS[fmt](path, limit=limit)
    if fmt == "jsonl":
        return load_jsonl(path, limit=limit)
    if fmt == "csv":
        return load_csv(path, mapping=mapping, limit=limit)
    if fmt == "fhir":
        if not path.exists():
            raise DataNotFoundError(
                "FHIR data",
                expected=f"a Bundle .json file or a folder of them at {path}",
                found="no such path",
                fix="pass --data PATH to an exported FHIR R4 Bundle",
            )
        return _load_fhir(path, limit)
    raise InputError(
        "data format",
        expected=f"one of {', '.join(FORMATS)}",
        found=repr(fmt),
        fix="pass --format with one of the listed names",
    )
