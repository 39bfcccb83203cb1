"""Streaming scoring: formats, resume after interruption without duplicates, bad input."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Self

import numpy as np
import pytest

from dxkit.cases.schema import Case
from dxkit.errors import InputError
from dxkit.inference.readers import iter_case_batches
from dxkit.inference.score import score_file


class KeywordModel:
    """Predicts 'flu' when the notes mention fever, else 'rash'; counts the cases it saw."""

    def __init__(self) -> None:
        self.labels = ["flu", "rash"]
        self.seen: list[str] = []

    def fit(
        self,
        cases: Sequence[Case],
        y: Sequence[str],
        *,
        differentials: Sequence[dict[str, float] | None] | None = None,
    ) -> Self:
        return self

    def save(self, path: Path) -> None:
        """Nothing to save (the model contract demands the method)."""

    @classmethod
    def load(cls, path: Path) -> Self:
        return cls()

    def predict_proba(self, cases: Sequence[Case]) -> np.ndarray:
        self.seen.extend(c.case_id for c in cases)
        return np.array([[0.9, 0.1] if "fever" in c.notes else [0.2, 0.8] for c in cases])


def write_jsonl(path: Path, n: int) -> Path:
    lines = [
        json.dumps({"case_id": f"p{i}", "notes": "fever" if i % 2 else "itchy", "age": 40})
        for i in range(n)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def read_out(path: Path) -> list[dict[str, object]]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    if path.suffix == ".csv":
        with path.open(newline="") as handle:
            return list(csv.DictReader(handle))
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    return list(pq.read_table(path).to_pylist())


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_scores_every_row_in_order(tmp_path: Path, suffix: str) -> None:
    source = write_jsonl(tmp_path / "cases.jsonl", 25)
    model = KeywordModel()
    out = tmp_path / f"scores{suffix}"
    summary = score_file(source, out, model, batch_size=4, top=2, progress=False)
    rows = read_out(out)
    assert summary.scored == 25 and summary.skipped == 0
    assert [int(r["row"]) for r in rows] == list(range(25))  # type: ignore[call-overload]
    assert rows[1]["diagnosis"] == "flu" and rows[0]["diagnosis"] == "rash"
    assert rows[3]["case_id"] == "p3"
    assert not out.with_name(out.name + ".parts").exists()


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_resume_after_a_cut_line_has_no_duplicates(tmp_path: Path, suffix: str) -> None:
    source = write_jsonl(tmp_path / "cases.jsonl", 30)
    out = tmp_path / f"scores{suffix}"
    score_file(source, out, KeywordModel(), batch_size=7, progress=False)
    complete = out.read_bytes()
    lines = complete.splitlines(keepends=True)
    header = 1 if suffix == ".csv" else 0
    cut = b"".join(lines[: header + 12]) + lines[header + 12][:9]  # crash mid-line 13
    out.write_bytes(cut)
    model = KeywordModel()
    summary = score_file(source, out, model, batch_size=7, progress=False)
    assert summary.skipped == 12 and summary.scored == 18
    assert model.seen == [f"p{i}" for i in range(12, 30)]  # only the missing rows scored
    assert out.read_bytes() == complete  # identical to an uninterrupted run


def test_parquet_input_and_resume_from_parts(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"id": [f"q{i}" for i in range(20)], "text": ["fever"] * 20, "age": [30] * 20})
    pq.write_table(table, tmp_path / "cases.parquet", row_group_size=6)
    out = tmp_path / "scores.parquet"
    parts = out.with_name(out.name + ".parts")
    parts.mkdir()
    first = score_file(
        tmp_path / "cases.parquet",
        tmp_path / "head.parquet",
        KeywordModel(),
        batch_size=8,
        progress=False,
    )
    assert first.scored == 20
    # a crash after the first part: keep it, plus a half-written temporary file
    head = pq.read_table(tmp_path / "head.parquet").slice(0, 8)
    pq.write_table(head, parts / "part-000000000000.parquet")
    (parts / "part-000000000008.tmp").write_bytes(b"PAR1 half")
    model = KeywordModel()
    summary = score_file(tmp_path / "cases.parquet", out, model, batch_size=8, progress=False)
    assert summary.skipped == 8 and model.seen[0] == "q8" and len(model.seen) == 12
    rows = read_out(out)
    assert [r["row"] for r in rows] == list(range(20)) and rows[0]["case_id"] == "q0"


def test_csv_input_uses_the_case_loader_columns(tmp_path: Path) -> None:
    source = tmp_path / "cases.csv"
    source.write_text("id,notes,age,sex\na1,fever today,34,F\na2,itchy arms,90+,m\n")
    batches = list(iter_case_batches(source, 10))
    numbers, cases = batches[0]
    assert numbers == [0, 1] and [c.case_id for c in cases] == ["a1", "a2"]
    assert cases[0].sex.value == "female" and cases[1].age is not None and cases[1].age >= 90


def test_bad_input_is_named_by_row_without_notes(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"unknown extension \.xlsx"):
        score_file(tmp_path / "cases.xlsx", tmp_path / "o.jsonl", KeywordModel(), progress=False)
    with pytest.raises(InputError, match="name the output file"):
        score_file(tmp_path / "cases.jsonl", tmp_path / "o.txt", KeywordModel(), progress=False)
    source = tmp_path / "cases.jsonl"
    source.write_text(
        '{"case_id": "a", "notes": "secret note"}\n{"case_id": "b", "notes": "x", "age": -4}\n'
    )
    with pytest.raises(InputError, match=r"line 2 \(row 1\): field age") as info:
        score_file(source, tmp_path / "o.jsonl", KeywordModel(), batch_size=1, progress=False)
    assert "secret" not in str(info.value)
    bad_csv = tmp_path / "cases.csv"
    bad_csv.write_text("id,notes\nz1,fine\nz2,secret,extra\n")
    with pytest.raises(InputError, match=r"row 1 .*more cells than columns") as info:
        score_file(bad_csv, tmp_path / "o2.jsonl", KeywordModel(), progress=False)
    assert "secret" not in str(info.value)


def test_output_of_another_input_is_refused(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "cases.jsonl", 5)
    out = tmp_path / "scores.jsonl"
    out.write_text('{"row": 7, "case_id": "x"}\n')
    with pytest.raises(InputError, match="1 rows end with row 7"):
        score_file(source, out, KeywordModel(), progress=False)


class CrashingModel(KeywordModel):
    """Fails on its n-th call, as a process killed mid-run stops after some batches."""

    def __init__(self, fail_on_call: int) -> None:
        super().__init__()
        self.calls, self.fail_on_call = 0, fail_on_call

    def predict_proba(self, cases: Sequence[Case]) -> np.ndarray:
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise KeyboardInterrupt
        return super().predict_proba(cases)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_interrupted_run_resumes_to_the_uninterrupted_rows(tmp_path: Path, suffix: str) -> None:
    source = write_jsonl(tmp_path / "cases.jsonl", 23)
    whole = tmp_path / f"whole{suffix}"
    score_file(source, whole, KeywordModel(), batch_size=5, progress=False)
    out = tmp_path / f"scores{suffix}"
    with pytest.raises(KeyboardInterrupt):
        score_file(source, out, CrashingModel(fail_on_call=3), batch_size=5, progress=False)
    model = KeywordModel()
    summary = score_file(source, out, model, batch_size=5, progress=False)
    assert summary.skipped == 10 and model.seen[0] == "p10"
    assert read_out(out) == read_out(whole)


def test_parquet_leftover_parts_after_a_finished_merge(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "cases.jsonl", 12)
    out = tmp_path / "scores.parquet"
    score_file(source, out, KeywordModel(), batch_size=5, progress=False)
    expected = read_out(out)
    # killed after the merged file was renamed into place, before the parts were removed
    score_file(source, tmp_path / "other.parquet", KeywordModel(), batch_size=5, progress=False)
    parts = out.with_name(out.name + ".parts")
    parts.mkdir()
    (parts / "part-000000000005.parquet").write_bytes((tmp_path / "other.parquet").read_bytes())
    model = KeywordModel()
    summary = score_file(source, out, model, batch_size=5, progress=False)
    assert summary.skipped == 12 and model.seen == []
    assert read_out(out) == expected and not parts.exists()


def test_parquet_part_of_another_run_is_refused(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "cases.jsonl", 12)
    score_file(source, tmp_path / "other.parquet", KeywordModel(), batch_size=5, progress=False)
    parts = tmp_path / "scores.parquet.parts"
    parts.mkdir()
    (parts / "part-000000000000.parquet").write_bytes((tmp_path / "other.parquet").read_bytes())
    (parts / "part-000000000012.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match=r"part-000000000012\.parquet is not a readable Parquet"):
        score_file(source, tmp_path / "scores.parquet", KeywordModel(), progress=False)
