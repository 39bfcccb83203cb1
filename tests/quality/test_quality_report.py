"""Data-set quality report and the line-by-line JSONL check."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from rich.console import Console

from dxkit.cases.schema import Case, Observation
from dxkit.errors import DataNotFoundError, InputError
from dxkit.quality.report import check_file, quality_report, render_report

SECRET = "Jane Roe of 12 Elm Street"


def make(case_id: str, **kw: object) -> Case:
    return Case.model_validate({"case_id": case_id, "notes": "cough", **kw})


def test_report_counts_rejections_warnings_missing_and_duplicates() -> None:
    cases = [
        make("a", age=30, sex="f", patient_id="p1", lifestyle={"smoking": "never"}),
        make("b", age=40, patient_id="p1"),
        make("b", age=50, sex="m"),
        make("c", observations=[{"code": "8310-5", "value": 120, "unit": "Cel"}]),
        make("d", notes=""),
    ]
    report = quality_report(cases, labels=["flu", "flu", "cold", "flu", "asthma"])
    assert (report.n_cases, report.n_accepted, report.n_rejected) == (5, 3, 2)
    assert report.rejected_by_code == {"implausible_value": 1, "empty_case": 1}
    assert {r.case_id for r in report.rejections} == {"c", "d"}
    assert report.warnings_by_code == {"missing_field": 1}  # b has no sex
    assert report.missing_rate["age"] == pytest.approx(0.4)
    assert report.missing_rate["lifestyle.smoking"] == pytest.approx(0.8)
    assert report.missing_rate["history.medications"] == 1.0
    assert report.duplicate_case_ids == ["b"]
    assert report.duplicate_patients == [["a", "b"]]
    assert report.label_distribution == {"flu": 2, "cold": 1}  # accepted cases only
    assert report.smallest_classes == [("cold", 1), ("flu", 2)]


def test_report_finds_identical_cases_and_observation_coverage() -> None:
    temp = [Observation(code="8310-5", value=98.6, unit="[degF]")]
    cases = [
        make("a", age=5, observations=temp),
        make("b", age=5, observations=temp),
        make("c", age=6),
    ]
    report = quality_report(cases)
    assert report.duplicate_content == [["a", "b"]]
    assert report.observation_coverage == {"8310-5 (temperature)": pytest.approx(2 / 3, 1e-3)}
    assert report.label_distribution == {}


def test_labels_must_align_with_cases() -> None:
    with pytest.raises(InputError, match=r"labels: expected one label per case \(1\); found 2"):
        quality_report([make("a")], labels=["x", "y"])


def test_to_dict_is_json_ready_and_render_shows_counts() -> None:
    report = quality_report([make("a"), make("b", notes="")], labels=["flu", "cold"])
    data = json.loads(json.dumps(report.to_dict()))
    assert data["n_rejected"] == 1
    assert data["smallest_classes"] == [["flu", 1]]
    console = Console(width=200, record=True)
    render_report(report, console)
    text = console.export_text()
    assert "rejected: empty_case" in text
    assert "flu (1)" in text


def test_check_file_collects_every_bad_line_without_quoting_notes(tmp_path: Path) -> None:
    lines = [
        json.dumps({"case_id": "a", "notes": "cough", "diagnosis": "flu"}),
        "",
        "{not json",
        json.dumps({"case_id": "b", "notes": SECRET, "age": "old", "diagnosis": "flu"}),
        json.dumps({"case_id": "c", "notes": SECRET, "colour": "red"}),
        json.dumps([1, 2]),
        json.dumps(
            {"case_id": "d", "notes": "x", "differential": {"flu": 0.7}, "diagnosis": "cold"}
        ),
        json.dumps(
            {"case_id": "e", "observations": [{"code": "8867-4", "value": 400, "unit": "/min"}]}
        ),
    ]
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = check_file(path)
    assert (report.n_cases, report.n_accepted) == (7, 2)
    messages = [r.message for r in report.rejections]
    assert "line 3: not valid JSON" in messages
    assert any(m.startswith("line 4: age: Input should be a valid number") for m in messages)
    assert any(m.startswith("line 5: colour: Extra inputs are not permitted") for m in messages)
    assert any(m.startswith("line 6: expected a JSON object") for m in messages)
    assert {r.case_id for r in report.rejections} == {None, "b", "c", "e"}
    assert [r.line for r in report.rejections] == [3, 4, 5, 6, 8]
    assert report.rejected_by_code == {"schema_error": 2, "invalid_json": 2, "implausible_value": 1}
    assert report.label_distribution == {"flu": 1, "cold": 1}
    assert SECRET not in json.dumps(report.to_dict())


def test_check_file_errors(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="expected an existing JSONL file"):
        check_file(tmp_path / "absent.jsonl")
    with pytest.raises(InputError, match="fmt: expected 'jsonl'; found 'csv'"):
        check_file(tmp_path, fmt="csv")


def test_pima_zero_readings_are_rejected(shared_data: Path) -> None:
    """Pima codes missing readings as 0: diastolic BP 0 and glucose 0 must be rejected."""
    path = shared_data / "pima_diabetes" / "pima-indians-diabetes.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    cases = [
        Case(
            case_id=f"pima-{i}",
            age=float(row["Age"]),
            sex="female",
            observations=[
                Observation(code="2339-0", value=float(row["PlGlcConc"]), unit="mg/dL"),
                Observation(code="8462-4", value=float(row["BloodP"]), unit="mm[Hg]"),
            ],
        )
        for i, row in enumerate(rows)
    ]
    labels = ["diabetes" if row["target"] == "1" else "no diabetes" for row in rows]
    report = quality_report(cases, labels)
    expected = sum(1 for r in rows if float(r["BloodP"]) == 0 or float(r["PlGlcConc"]) == 0)
    assert report.n_rejected == expected > 0
    assert set(report.rejected_by_code) == {"implausible_value"}
    assert sum(report.label_distribution.values()) == len(rows) - expected
