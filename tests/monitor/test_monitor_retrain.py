"""dxkit retrain --from-feedback: training data from verdicts, held-back comparison, decision."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dxkit.cases.schema import Case, LabeledCase
from dxkit.cli import app
from dxkit.errors import InputError
from dxkit.models.base import load_model
from dxkit.monitor.profile import read_reference
from dxkit.monitor.retrain import Score, decide, feedback_dataset
from dxkit.monitor.window import LiveAnswer, load_answers

runner = CliRunner()
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def answer(stored: str, truth: str | None, minutes: int = 0) -> LiveAnswer:
    return LiveAnswer(stored, Case(case_id="client-id", notes="x"), "k" * 64, "Flu", 0.8,
                      abstained=False, correct=truth == "Flu", truth=truth,
                      created_at=NOW + dt.timedelta(minutes=minutes))  # fmt: skip


def test_feedback_dataset_takes_the_latest_settled_verdict_per_case() -> None:
    answers = [answer("a", "Flu"), answer("a", "Cold", minutes=5), answer("b", None)]
    found = feedback_dataset(answers, {"Cold": "common_cold"})
    assert [(lc.case.case_id, lc.label) for lc in found] == [("a", "common_cold")]
    assert found[0].case.patient_id == "k" * 64  # the pseudonym groups the patient's cases


def test_verdicts_become_labels(filled, cohort: list[LabeledCase]) -> None:
    url = filled(cohort[:30])
    found = load_answers(url)
    assert all(a.truth is not None for a in found)
    right = [a for a in found if a.correct]
    assert right and all(a.truth == a.top_condition for a in right)
    wrong = [a for a in found if a.correct is False]
    assert all(a.truth != a.top_condition for a in wrong)


def test_decision_rule() -> None:
    assert decide(Score(0.8, 0.05), Score(0.8, 0.04), 0.01, 0.02) == (
        True,
        "better ECE, top-1 within tolerance",
    )
    assert decide(Score(0.8, 0.05), Score(0.9, 0.2), 0.01, 0.02)[1] == "ECE worse by more than 0.02"
    assert decide(Score(0.8, 0.05), Score(0.8, 0.05), 0.01, 0.02)[0] is False


def test_retrain_keeps_a_better_model_and_registers_it(
    filled, model_dir: Path, cohort: list[LabeledCase], tiny_kb, tmp_path: Path
) -> None:
    from dxkit.cases.synthetic import CohortConfig, CohortGenerator

    # a weak current model: trained on 20 cases; feedback covers 200 more
    weak = tmp_path / "weak"
    result = runner.invoke(app, ["train", "--data", str(_jsonl(tmp_path, cohort[:20])), "--out",
                                 str(weak), "--no-soft", "--no-calibrate", "--no-track",
                                 "--no-deid"])  # fmt: skip
    assert result.exit_code == 0, result.output
    fresh = CohortGenerator(CohortConfig(n=200, seed=9, zh_fraction=0.0), tiny_kb).generate()
    url = filled(fresh)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "new"
    args = ["retrain", "--from-feedback", "--database", url, "--model", str(weak), "--out",
            str(out), "--register", "retrained", "--track", "--tracking-uri", store]  # fmt: skip
    result = runner.invoke(app, args, env={"DXKIT_HOME": str(tmp_path / "home")})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "keep the new model" in text and "registered as models:/retrained/1" in text
    assert read_reference(out) is not None
    assert len(load_model(out).labels) >= len(load_model(weak).labels)


def test_retrain_needs_enough_feedback_and_all_options(
    filled, model_dir: Path, cohort: list[LabeledCase], tmp_path: Path
) -> None:
    url = filled(cohort[:5])
    args = ["retrain", "--from-feedback", "--database", url, "--model", str(model_dir),
            "--out", str(tmp_path / "o"), "--no-track"]  # fmt: skip
    result = runner.invoke(app, args)
    assert isinstance(result.exception, InputError)
    assert "feedback: expected at least 20 stored cases" in str(result.exception)
    assert not (tmp_path / "o").exists()
    result = runner.invoke(app, ["retrain", "--database", url, "--model", str(model_dir)])
    assert "expected --from-feedback --database URL --model CURRENT" in str(result.exception)


def _jsonl(tmp_path: Path, cases: list[LabeledCase]) -> Path:
    from dxkit.cases.io import write_jsonl

    path = tmp_path / "few.jsonl"
    write_jsonl(path, cases)
    return path


@pytest.fixture(autouse=True)
def _no_tracking_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DXKIT_HOME", str(tmp_path / "home"))
