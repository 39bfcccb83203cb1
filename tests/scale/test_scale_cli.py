"""``dxkit score --engine``: the engine path through the command line, and its bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dxkit.cli import app, main

runner = CliRunner()


def test_score_on_the_local_engine_then_refuse_to_overwrite(
    scale_cases: Path, scale_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scores.jsonl"
    args = ["score", str(scale_cases), "--out", str(out), "--model", str(scale_model),
            "--engine", "local", "--workers", "2", "--batch-size", "16"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "scored 50 cases" in result.output and "on local x2" in result.output
    rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [r["case_id"] for r in rows] == [f"syn-2-{i:06d}" for i in range(50)]
    assert all(r["model_id"] and isinstance(r["abstain"], bool) for r in rows)
    assert all(json.loads(r["prediction_set"]) for r in rows)
    before = out.read_bytes()
    result = runner.invoke(app, args)  # a complete output is not replaced silently
    assert result.exit_code != 0 and out.read_bytes() == before
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0


def test_a_directory_input_implies_the_engine_path(
    scale_cases: Path, scale_model: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "part-0.jsonl").write_bytes(scale_cases.read_bytes())
    out = tmp_path / "scores.parquet"
    result = runner.invoke(
        app, ["score", str(folder), "--out", str(out), "--model", str(scale_model)]
    )
    assert result.exit_code == 0, result.output
    assert "scored 50 cases" in result.output and out.is_dir()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--engine", "dask"], "--engine: expected one of local, ray, spark"),
        (["--engine", "local", "--workers", "0"], "score settings: expected workers"),
    ],
)
def test_bad_engine_settings_are_one_line_and_exit_2(
    extra: list[str], message: str, scale_cases: Path, scale_model: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    argv = ["dxkit", "score", str(scale_cases), "--out", str(tmp_path / "o.jsonl"),
            "--model", str(scale_model), *extra]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "o.jsonl").exists()
