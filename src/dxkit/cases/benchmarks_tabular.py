"""Loaders for small public tabular sets: Kaggle disease-symptom, UCI heart, Pima, MTSamples.

Rows become short English notes (what the text models read) plus typed observations where
the observation catalogue has a LOINC code; measurements without one (cholesterol, BMI,
insulin...) stay in the notes, never under made-up codes. A reading the catalogue calls
physically implausible (a blood pressure of 0, a missing-value marker) is left out.

Data are never read at import time; a missing file raises :class:`DataNotFoundError`
naming the expected path, and a file without the expected columns raises
:class:`InputError` naming the columns expected and found (never the note text).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path

from dxkit.cases.schema import Case, LabeledCase, Observation
from dxkit.errors import DataNotFoundError, InputError
from dxkit.quality.catalogue import canonical_observation

__all__ = ["TABULAR_LOADERS", "load_kaggle", "load_mtsamples", "load_pima", "load_uci_heart"]

# Column order per heart-disease.names (UCI) and the header of the Pima CSV.
UCI_COLUMNS: tuple[str, ...] = ("age", "sex", "cp", "trestbps", "chol", "fbs", "restecg")
UCI_COLUMNS += ("thalach", "exang", "oldpeak", "slope", "ca", "thal", "num")
PIMA_COLUMNS: tuple[str, ...] = ("NumTimesPrg", "PlGlcConc", "BloodP", "SkinThick", "TwoHourSerIns")
PIMA_COLUMNS += ("BMI", "DiPedFunc", "Age", "target")
MTSAMPLES_COLUMNS = ("description", "medical_specialty", "transcription")

_CHEST_PAIN = {1: "typical angina", 2: "atypical angina", 3: "non-anginal pain", 4: "asymptomatic"}
_RESTECG = {
    0: "Normal resting ECG.",
    1: "Resting ECG with ST-T wave abnormality.",
    2: "Resting ECG showing probable or definite left ventricular hypertrophy.",
}
_SLOPE = {1: "upsloping", 2: "flat", 3: "downsloping"}
_THAL = {3: "normal", 6: "fixed defect", 7: "reversible defect"}


def _data_file(path: Path, default: str, what: str, fix: str) -> Path:
    """``path`` itself, or ``default`` inside it when it is a folder; must exist."""
    path = Path(path)
    if path.is_dir():
        path = path / default
    if not path.is_file():
        raise DataNotFoundError(what, expected=f"the file {path}", found="no such file", fix=fix)
    return path


def _columns_error(what: str, expected: object, found: object, path: Path) -> InputError:
    return InputError(
        what,
        expected=f"columns {expected}",
        found=f"columns {found} in {path.name}",
        fix=f"pass the {what.split()[0]} file from the public release unchanged",
    )


def _observation(code: str, value: float | None, unit: str) -> list[Observation]:
    """One observation if the value is present and plausible per the catalogue, else none."""
    if value is None:
        return []
    obs = Observation(code=code, value=value, unit=unit)
    try:
        canonical_observation(obs, "observation")
    except InputError:
        return []
    return [obs]


def _rows(path: Path) -> Iterator[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        yield from csv.reader(handle)


def load_kaggle(path: Path, *, limit: int | None = None) -> list[LabeledCase]:
    """Kaggle "Disease Symptom Prediction" ``Training.csv`` or ``Testing.csv``.

    132 binary symptom columns plus ``prognosis``; ``path`` may be the folder (then
    ``Training.csv``). Notes list the present symptoms in column order, e.g.
    ``"Symptoms: itching, skin rash, nodal skin eruptions."``.
    """
    path = _data_file(
        path,
        "Training.csv",
        "Kaggle disease-symptom file",
        "pass --data PATH to Training.csv or Testing.csv of the Kaggle disease-symptom set",
    )
    rows = _rows(path)
    header = [c.strip() for c in next(rows, [])]
    if "prognosis" not in header:
        raise _columns_error("Kaggle columns", "<symptoms>, prognosis", header, path)
    label_at = header.index("prognosis")
    # Names like "spotting_ urination" and "dischromic _patches" occur: normalise spacing.
    names = [" ".join(c.replace("_", " ").split()) for c in header]
    out: list[LabeledCase] = []
    for index, row in enumerate(rows):
        if limit is not None and index >= limit:
            break
        if len(row) < len(header) or not row[label_at].strip():
            raise InputError(
                "Kaggle disease-symptom row",
                expected=f"{len(header)} cells with a non-empty prognosis",
                found=f"row {index + 2} of {path.name}: {len(row)} cells",
                fix="use the unmodified Kaggle CSV",
            )
        present = [n for i, n in enumerate(names) if i != label_at and n and row[i].strip() == "1"]
        symptoms = list(dict.fromkeys(present))  # "fluid_overload" is a column twice
        notes = "Symptoms: " + (", ".join(symptoms) or "none reported") + "."
        case = Case(case_id=f"kaggle-{index}", patient_id=f"kaggle-{index}", notes=notes)
        out.append(LabeledCase(case=case, label=row[label_at].strip()))
    return out


def _number(raw: str, where: str, column: str) -> float | None:
    """A cell as a number; ``?``, empty and ``-9`` (the UCI missing marker) are ``None``."""
    text = raw.strip()
    if text in ("", "?", "-9", "-9.0"):
        return None
    try:
        return float(text)
    except ValueError:
        raise InputError(
            "tabular cell",
            expected=f"a number or '?' in column {column}",
            found=f"{where}: not a number",
            fix="use the unmodified data file",
        ) from None


def _heart_notes(v: dict[str, float | None]) -> str:
    sentences = []
    if v["cp"] in _CHEST_PAIN:
        sentences.append(f"Chest pain: {_CHEST_PAIN[int(v['cp'] or 0)]}.")
    if v["chol"]:  # 0 marks a missing value in the Swiss file
        sentences.append(f"Serum cholesterol {v['chol']:g} mg/dl.")
    if v["fbs"] is not None:
        sentences.append(f"Fasting blood sugar {'above' if v['fbs'] else 'not above'} 120 mg/dl.")
    if v["restecg"] in _RESTECG:
        sentences.append(_RESTECG[int(v["restecg"] or 0)])
    if v["exang"] is not None:
        sentences.append(
            "Exercise-induced angina." if v["exang"] else "No exercise-induced angina."
        )
    if v["oldpeak"] is not None:
        sentences.append(f"Exercise-induced ST depression {v['oldpeak']:g} mm relative to rest.")
    if v["slope"] in _SLOPE:
        sentences.append(f"Peak exercise ST segment {_SLOPE[int(v['slope'] or 0)]}.")
    if v["ca"] is not None:
        sentences.append(f"{v['ca']:g} major vessels coloured by fluoroscopy.")
    if v["thal"] in _THAL:
        sentences.append(f"Thallium scan: {_THAL[int(v['thal'] or 0)]}.")
    return " ".join(sentences) or "No test results recorded."


def load_uci_heart(path: Path, *, limit: int | None = None) -> list[LabeledCase]:
    """UCI Heart Disease ``processed.<site>.data`` (14 columns, no header, ``?`` missing).

    ``path`` may be one file or the folder (then all ``processed.*.data`` files, in name
    order). Case ids are ``uci-<site>-<row>``. Label: ``heart disease`` when ``num > 0``.
    Resting systolic BP and maximum heart rate become observations; the rest are notes.
    """
    path = Path(path)
    files = sorted(path.glob("processed.*.data")) if path.is_dir() else [path]
    if not files or not files[0].is_file():
        raise DataNotFoundError(
            "UCI heart disease data",
            expected=f"a processed.<site>.data file (or a folder of them) at {path}",
            found="no such file",
            fix="pass --data PATH to processed.cleveland.data or its folder",
        )
    out: list[LabeledCase] = []
    for file in files:
        site = file.name.split(".")[1] if file.name.count(".") >= 2 else file.stem
        for index, row in enumerate(r for r in _rows(file) if r):
            if limit is not None and len(out) >= limit:
                return out
            where = f"{file.name} line {index + 1}"
            if len(row) != len(UCI_COLUMNS):
                raise _columns_error("UCI heart disease row", list(UCI_COLUMNS), len(row), file)
            v = {c: _number(raw, where, c) for c, raw in zip(UCI_COLUMNS, row, strict=True)}
            if v["num"] is None:
                raise InputError(
                    "UCI heart disease label",
                    expected="a number in column num",
                    found=f"{where}: missing",
                    fix="use the unmodified data file",
                )
            observations = _observation("8480-6", v["trestbps"], "mm[Hg]")
            observations += _observation("8867-4", v["thalach"], "/min")
            case_id = f"uci-{site}-{index}"
            case = Case(
                case_id=case_id,
                patient_id=case_id,
                age=v["age"],
                sex="male" if v["sex"] == 1 else "female" if v["sex"] == 0 else None,
                notes=_heart_notes(v),
                observations=observations,
            )
            label = "heart disease" if v["num"] > 0 else "no heart disease"
            out.append(LabeledCase(case=case, label=label))
    return out


def load_pima(path: Path, *, limit: int | None = None) -> list[LabeledCase]:
    """Pima Indians Diabetes CSV (header ``NumTimesPrg,...,Age,target``); all women.

    A zero glucose, blood pressure, skinfold, insulin or BMI means "not measured" in this
    set, so it is left out rather than recorded. Glucose (2-h OGTT plasma, mg/dL) and
    diastolic BP become observations; the other columns become notes.
    """
    path = _data_file(
        path,
        "pima-indians-diabetes.csv",
        "Pima diabetes file",
        "pass --data PATH to pima-indians-diabetes.csv",
    )
    rows = _rows(path)
    header = [c.strip() for c in next(rows, [])]
    if set(PIMA_COLUMNS) - set(header):
        raise _columns_error("Pima diabetes columns", list(PIMA_COLUMNS), header, path)
    at = {c: header.index(c) for c in PIMA_COLUMNS}
    out: list[LabeledCase] = []
    for index, row in enumerate(r for r in rows if r):
        if limit is not None and index >= limit:
            break
        where = f"{path.name} row {index + 2}"
        v = {c: _number(row[i], where, c) if i < len(row) else None for c, i in at.items()}
        if v["target"] not in (0.0, 1.0):
            raise InputError(
                "Pima diabetes label",
                expected="0 or 1 in column target",
                found=f"{where}: other value",
                fix="use the unmodified data file",
            )
        pregnancies = v["NumTimesPrg"]
        sentences = [] if pregnancies is None else [f"Pregnancies: {pregnancies:g}."]
        for column, text in (
            ("BMI", "Body mass index {:g} kg/m2."),
            ("SkinThick", "Triceps skinfold thickness {:g} mm."),
            ("TwoHourSerIns", "2-hour serum insulin {:g} uU/mL."),
            ("DiPedFunc", "Diabetes pedigree function {:g}."),
        ):
            if v[column]:
                sentences.append(text.format(v[column]))
        observations = _observation("2339-0", v["PlGlcConc"] or None, "mg/dL")
        observations += _observation("8462-4", v["BloodP"] or None, "mm[Hg]")
        case = Case(
            case_id=f"pima-{index}",
            patient_id=f"pima-{index}",
            age=v["Age"],
            sex="female",
            notes=" ".join(sentences),
            observations=observations,
        )
        out.append(LabeledCase(case=case, label="diabetes" if v["target"] else "no diabetes"))
    return out


def load_mtsamples(path: Path, *, limit: int | None = None) -> list[LabeledCase]:
    """MTSamples transcriptions CSV; label = ``medical_specialty``, notes = transcription.

    The description stands in for an empty transcription; rows with neither, or without a
    specialty, are skipped. The scraping artefact ``"HEADER:,"`` becomes ``"HEADER:"``.
    """
    path = _data_file(
        path,
        "mtsamples_first321.csv",
        "MTSamples file",
        "pass --data PATH to mtsamples.csv (or mtsamples_first321.csv)",
    )
    out: list[LabeledCase] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        header = [c.strip() for c in reader.fieldnames or []]
        if set(MTSAMPLES_COLUMNS) - set(header):
            raise _columns_error("MTSamples columns", list(MTSAMPLES_COLUMNS), header, path)
        for index, raw in enumerate(reader):
            row = {k.strip(): (v or "").strip() for k, v in raw.items() if isinstance(k, str)}
            notes = (row["transcription"] or row["description"]).replace(":,", ":")
            if not notes or not row["medical_specialty"]:
                continue
            case_id = f"mtsamples-{row.get('row_id') or index}"
            case = Case(case_id=case_id, patient_id=case_id, notes=notes)
            out.append(LabeledCase(case=case, label=row["medical_specialty"]))
            if limit is not None and len(out) >= limit:
                break
    return out


# Every loader takes ``(path, *, limit=None)``; io.load_labeled dispatches through this.
TABULAR_LOADERS: dict[str, Callable[..., list[LabeledCase]]] = {
    "kaggle": load_kaggle,
    "uci_heart": load_uci_heart,
    "pima": load_pima,
    "mtsamples": load_mtsamples,
}
