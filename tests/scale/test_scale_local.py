"""The local engine: formats, fsspec URLs, atomic output, clean reruns and clear errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from dxkit.errors import DxkitError, InputError
from dxkit.scale.engines import score_distributed

sys.path.insert(0, str(Path(__file__).parent))  # spawned local workers import scale_helpers

from scale_helpers import FAIL_ID, assert_same, failing_loader, read_scores, to_parquet


def test_jsonl_scores_every_case_with_sets_and_model_id(
    scale_model: Path, scale_cases: Path, tmp_path: Path
) -> None:
    summary = score_distributed(scale_cases, tmp_path / "s.jsonl", scale_model, batch_size=7)
    rows = read_scores(tmp_path / "s.jsonl")
    assert summary.cases == 50 and len(rows) == 50 and summary.engine == "local"
    row = rows["syn-2-000000"]
    top = json.loads(row["top"])
    assert len(top) == 5 and row["diagnosis"] == top[0][0] and row["probability"] == top[0][1]
    assert top[0][0] in json.loads(row["prediction_set"])  # the top answer is always in the set
    assert isinstance(row["abstain"], bool) and len(row["model_id"]) == 12
    assert all(r["abstain"] == bool(r["abstain_reason"]) for r in rows.values())
    assert not list(tmp_path.glob(".*"))  # no temporary leftovers


def test_answers_do_not_depend_on_batch_size_workers_or_format(
    scale_model: Path, scale_cases: Path, tmp_path: Path
) -> None:
    score_distributed(scale_cases, tmp_path / "a.jsonl", scale_model, batch_size=50)
    parquet = to_parquet(scale_cases, tmp_path / "cases.parquet")
    score_distributed(parquet, tmp_path / "b.parquet", scale_model, batch_size=3, workers=2)
    assert (tmp_path / "b.parquet").is_dir()
    assert_same(read_scores(tmp_path / "a.jsonl"), read_scores(tmp_path / "b.parquet"))


def test_fsspec_urls_and_directories(scale_model: Path, scale_cases: Path, tmp_path: Path) -> None:
    import fsspec

    memory = fsspec.filesystem("memory")
    memory.pipe("/dxkit-scale/in/part-1.jsonl", scale_cases.read_bytes())
    score_distributed("memory://dxkit-scale/in", tmp_path / "m.jsonl", scale_model)
    score_distributed(scale_cases.as_uri(), tmp_path / "f.jsonl", scale_model)
    assert_same(read_scores(tmp_path / "m.jsonl"), read_scores(tmp_path / "f.jsonl"))
    memory.rm("/dxkit-scale", recursive=True)


def test_flat_csv_keeps_string_ids(scale_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "cases.csv"
    source.write_text(
        'case_id,age,sex,notes\n007,60,m,"chest pain,\nsweating"\n008,30,f,palpitations\n'
    )
    score_distributed(source, tmp_path / "c.jsonl", scale_model)
    assert sorted(read_scores(tmp_path / "c.jsonl")) == ["007", "008"]


def test_worker_failure_is_clear_and_leaves_nothing(
    scale_model: Path, scale_cases: Path, tmp_path: Path
) -> None:
    out = tmp_path / "s.parquet"
    for workers in (1, 2):
        with pytest.raises(DxkitError, match="a worker failed with ValueError") as info:
            score_distributed(
                scale_cases, out, scale_model, workers=workers, batch_size=5, loader=failing_loader
            )
        assert "simulated" not in str(info.value)  # the exception text is never passed on
        assert not out.exists() and not list(tmp_path.glob(".*"))
    score_distributed(scale_cases, out, scale_model, batch_size=5)  # the rerun starts clean
    assert len(read_scores(out)) == 50 and FAIL_ID in read_scores(out)


def test_killed_run_leftovers_are_cleared_and_complete_output_kept(
    scale_model: Path, scale_cases: Path, tmp_path: Path
) -> None:
    out = tmp_path / "s.jsonl"
    stale = tmp_path / ".s.jsonl.tmp-dead"
    stale.mkdir()
    (stale / "part-00000.parquet").write_bytes(b"half")
    score_distributed(scale_cases, out, scale_model)
    assert not stale.exists() and len(out.read_text().splitlines()) == 50
    with pytest.raises(InputError, match=r"s\.jsonl exists"):
        score_distributed(scale_cases, out, scale_model)
    score_distributed(scale_cases, out, scale_model, overwrite=True)
    assert len(out.read_text().splitlines()) == 50  # replaced, not appended


@pytest.mark.parametrize(
    ("setup", "kwargs", "match"),
    [
        ("missing", {}, "no such file or directory"),
        ("empty_dir", {}, "a directory without .csv, .jsonl or .parquet files"),
        ("bad_column", {}, "column 'diagnosis_code' is not a case field"),
        ("no_text", {}, "a text column"),
        ("no_id", {}, "no column 'case_id'"),
        ("bad_parquet", {}, "not a readable Parquet file"),
        ("ok", {"engine": "dask"}, "expected one of local, ray, spark; found 'dask'"),
        ("ok", {"workers": 0}, "workers 0"),
        ("ok_out", {}, "ending in .parquet"),
    ],
)
def test_bad_input_is_one_clear_error(
    scale_model: Path, tmp_path: Path, setup: str, kwargs: dict[str, object], match: str
) -> None:
    source = tmp_path / "in.jsonl"
    out = tmp_path / ("out.csv" if setup == "ok_out" else "out.jsonl")
    if setup == "empty_dir":
        source = tmp_path / "dir"
        source.mkdir()
        (source / "readme.txt").write_text("x")
    elif setup == "bad_column":
        source.write_text(json.dumps({"case_id": "a", "notes": "x", "diagnosis_code": 1}) + "\n")
    elif setup in ("no_text", "no_id"):
        source = tmp_path / "in.csv"
        source.write_text("case_id,age\na,3\n" if setup == "no_text" else "notes,age\ncough,3\n")
    elif setup == "bad_parquet":
        source = tmp_path / "in.parquet"
        source.write_bytes(b"PAR1 not really")
    elif setup != "missing":
        source.write_text(json.dumps({"case_id": "a", "notes": "cough"}) + "\n")
    with pytest.raises(InputError, match=match):
        score_distributed(source, out, scale_model, **kwargs)  # type: ignore[arg-type]
    assert not out.exists()


def test_bad_row_names_the_case_not_the_notes(scale_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    rows = [
        {"case_id": "ok", "notes": "chest pain"},
        {"case_id": "bad", "notes": "secret", "age": -3},
    ]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(InputError, match="case bad: field age") as info:
        score_distributed(source, tmp_path / "o.jsonl", scale_model)
    assert "secret" not in str(info.value)


def test_importing_dxkit_scale_does_not_import_ray_or_spark() -> None:
    import subprocess

    code = "import dxkit.scale.engines, sys; print('ray' in sys.modules, 'pyspark' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]


@pytest.mark.parametrize(
    ("engine", "module", "match"),
    [("ray", "ray", r'pip install "ray\[data\]>=2\.60"'), ("spark", "pyspark", "pyspark>=4.3")],
)
def test_missing_engine_package_says_what_to_install(
    scale_model: Path,
    scale_cases: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    engine: str,
    module: str,
    match: str,
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    monkeypatch.setitem(sys.modules, f"{module}.sql" if module == "pyspark" else "ray.data", None)
    with pytest.raises(InputError, match=match):
        score_distributed(scale_cases, tmp_path / "o.jsonl", scale_model, engine=engine)
    assert not (tmp_path / "o.jsonl").exists()


def test_spark_without_java_says_what_to_install(
    scale_model: Path, scale_cases: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("pyspark", reason="pyspark is not installed")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(InputError, match="openjdk-17-jre-headless"):
        score_distributed(scale_cases, tmp_path / "o.jsonl", scale_model, engine="spark")
