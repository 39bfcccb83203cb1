"""The pipeline de-identifies what it reads before any model, file or log sees it."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from dxkit.cases.io import write_jsonl
from dxkit.cases.schema import Case, LabeledCase
from dxkit.pipeline import load_training_data


def _write(path: Path) -> None:
    cases = [
        LabeledCase(
            case=Case(
                case_id=f"c{i}",
                age=93,
                notes=f"Mrs. Quintanilla called 617-555-01{i:02d} on 03/1{i}/2023: cough, fever.",
            ),
            label="Pneumonia",
        )
        for i in range(3)
    ]
    write_jsonl(path, cases)


def test_cases_read_from_a_file_are_deidentified_by_default(tmp_path: Path) -> None:
    _write(tmp_path / "cases.jsonl")
    console = Console(record=True, width=200)
    labeled = load_training_data(
        tmp_path / "cases.jsonl", "jsonl", n=0, seed=0, limit=None, console=console
    )
    assert all(item.case.deidentified for item in labeled)
    notes = [item.case.notes for item in labeled]
    assert notes[0] == "Mrs. [NAME] called [PHONE] on [DATE]: cough, fever."
    assert all(item.case.age == 90 for item in labeled)
    printed = console.export_text()
    assert "de-identified 3 cases" in printed and "Quintanilla" not in printed


def test_opting_out_keeps_the_text(tmp_path: Path) -> None:
    _write(tmp_path / "cases.jsonl")
    labeled = load_training_data(
        tmp_path / "cases.jsonl",
        "jsonl",
        n=0,
        seed=0,
        limit=None,
        console=Console(quiet=True),
        deidentify=False,
    )
    assert "Quintanilla" in labeled[0].case.notes and not labeled[0].case.deidentified


def test_synthetic_cohort_needs_no_deidentification() -> None:
    labeled = load_training_data(
        None, "jsonl", n=5, seed=0, limit=None, console=Console(quiet=True)
    )
    assert all(item.case.deidentified for item in labeled)
