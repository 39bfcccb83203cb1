"""``dxkit forecast train|evaluate|predict`` end to end on a tiny cohort, and bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dxkit.cli import app, main

runner = CliRunner()


def test_train_evaluate_predict(cohort: tuple[Path, Path], tmp_path: Path) -> None:
    data, outcomes = cohort
    out = tmp_path / "model"
    args = ["--data", str(data), "--outcomes", str(outcomes)]
    result = runner.invoke(app, ["forecast", "train", *args, "--hours", "24", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "trained on 80 records (20 deaths), 24 h" in result.output
    assert "alerts per 100 patients" in result.output
    assert "risk-now model (all cuts, held-out stays): AUROC" in result.output
    result = runner.invoke(app, ["forecast", "evaluate", str(out), *args, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)  # exactly one JSON object
    assert report["n"] == 80 and report["auroc"] > 0.9
    assert {"auprc", "brier", "ece", "saps_i", "sofa"} <= set(report)
    assert set(report["saps_i"]) >= {"auroc", "auprc", "brier", "ece"}
    result = runner.invoke(app, ["forecast", "predict", str(out), "--data", str(data),
                                 "--record", "140000"])  # fmt: skip
    assert result.exit_code == 0, result.output
    (answer,) = [json.loads(line) for line in result.output.splitlines()]
    assert answer["record_id"] == "140000" and len(answer["risk_now"]) == 24
    assert 0 <= answer["risk"] <= 1 and answer["top_signals"]


def test_grud_model_from_the_cli_with_html_report(
    cohort: tuple[Path, Path], tmp_path: Path
) -> None:
    """--model grud trains the recurrent model; evaluate loads it by kind, --html reports."""
    data, outcomes = cohort
    out, html = tmp_path / "grud", tmp_path / "report.html"
    args = ["--data", str(data), "--outcomes", str(outcomes)]
    result = runner.invoke(
        app, ["forecast", "train", *args, "--hours", "12", "--model", "grud", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "dxkit-model.json").read_text())["kind"] == "forecast-grud"
    result = runner.invoke(app, ["forecast", "evaluate", str(out), *args, "--html", str(html)])
    assert result.exit_code == 0, result.output
    assert "report written to" in result.output and "SAPS-I" in result.output
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
    result = runner.invoke(app, ["forecast", "predict", str(out), "--data", str(data),
                                 "--record", "140000"])  # fmt: skip
    (answer,) = [json.loads(line) for line in result.output.splitlines()]
    assert len(answer["risk_now"]) == 12 and "top_signals" in answer


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--data", "{tmp}/none", "--outcomes", "{out}", "--out", "{tmp}/m"],
         "PhysioNet data: expected a directory"),
        (["train", "--data", "{data}", "--outcomes", "{tmp}/no.txt", "--out", "{tmp}/m"],
         "outcomes file: expected a CSV"),
        (["train", "--data", "{data}", "--outcomes", "{out}", "--out", "{tmp}/m", "--hours", "0"],
         "forecast option hours: expected an integer 1-240"),
        (["train", "--data", "{data}", "--outcomes", "{out}", "--out", "{tmp}/m",
          "--calibration", "beta"], "forecast option calibration: expected isotonic or platt"),
        (["evaluate", "{tmp}", "--data", "{data}", "--outcomes", "{out}", "--json"],
         "no manifest"),
        (["predict", "{tmp}/none", "--data", "{data}"], "does not exist or is not a directory"),
        (["train", "--data", "{data}", "--outcomes", "{out}", "--out", "{tmp}/m",
          "--model", "lstm"], "--model: expected gbm or grud"),
        (["evaluate", "{tmp}", "--data", "{data}", "--outcomes", "{out}", "--html", "{tmp}"],
         "--html"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], message: str, cohort: tuple[Path, Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    data, outcomes = cohort
    fill = {"tmp": str(tmp_path), "data": str(data), "out": str(outcomes)}
    monkeypatch.setattr(sys, "argv", ["dxkit", "forecast", *[a.format(**fill) for a in argv]])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert "Traceback" not in err
