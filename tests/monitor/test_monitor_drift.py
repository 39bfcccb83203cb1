"""dxkit monitor: PSI, live accuracy and abstention against the training reference, exit codes."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dxkit.cases.schema import Case, LabeledCase, Observation
from dxkit.cases.synthetic import CohortConfig, CohortGenerator
from dxkit.cli import app
from dxkit.errors import DataNotFoundError, InputError, ModelFormatError
from dxkit.knowledge.loader import KnowledgeBase
from dxkit.monitor.drift import Thresholds, compare, ece, psi
from dxkit.monitor.profile import (
    REFERENCE_FILE,
    ReferenceProfile,
    case_features,
    read_reference,
)
from dxkit.monitor.window import load_answers

runner = CliRunner()


def test_psi_and_ece_by_hand() -> None:
    assert psi({"a": 1.0}, {"a": 1.0}) == 0.0
    # 0.5 ln(0.5/1e-4) + (1e-4 - 0.5) ln(1e-4/0.5): a bin appearing from nowhere is large
    assert psi({"a": 1.0}, {"a": 0.5, "b": 0.5}) > 4
    assert ece([0.8, 0.8, 0.8, 0.8, 0.8], [True, True, True, True, False]) == pytest.approx(0)
    assert ece([0.95, 0.95], [False, False]) == pytest.approx(0.95)


def test_case_features_bin_observations_against_reference_ranges() -> None:
    case = Case(case_id="1", age=70, sex="male", notes="患者发热",
                observations=[Observation(code="8310-5", value=102.0, unit="[degF]")])  # fmt: skip
    found = case_features(case)
    assert found["age"] == "65+" and found["language"] == "zh" and found["note_length"] == "1-99"
    assert found["obs.temperature"] == "high"  # 38.9 Cel after unit conversion
    assert found["obs.heart_rate"] == "absent"


def test_reference_is_written_at_train_time_and_round_trips(model_dir: Path) -> None:
    profile = read_reference(model_dir)
    assert profile is not None and profile.n > 100
    assert profile.features["language"] == {"en": 1.0}
    assert sum(profile.conditions.values()) == pytest.approx(1.0)
    assert profile.top1 is not None and 0.3 < profile.top1 <= 1.0
    data = json.loads((model_dir / REFERENCE_FILE).read_text("utf-8"))
    with pytest.raises(ModelFormatError, match="reference profile of version 1"):
        ReferenceProfile.from_dict(data | {"version": 99})


def test_the_training_population_itself_raises_no_alert(
    filled, model_dir: Path, cohort: list[LabeledCase]
) -> None:
    url = filled(cohort)
    reference = read_reference(model_dir)
    assert reference is not None
    result = compare(reference, load_answers(url, since_days=1))
    assert result.n_answers == len(cohort) and result.n_feedback == len(cohort)
    assert max(result.feature_psi.values()) < 0.05 and result.condition_psi < 0.05
    assert result.live_accuracy == pytest.approx(reference.top1, abs=0.02)
    assert result.alerts == [] and result.summary().startswith("ok:")


def test_monitor_command_exit_codes_and_report(
    filled, model_dir: Path, cohort: list[LabeledCase], tiny_kb: KnowledgeBase, tmp_path: Path
) -> None:
    same = filled(cohort, name="same")
    result = runner.invoke(app, ["monitor", "--database", same, "--model", str(model_dir)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok: 160 answers")
    # Chinese notes only, and every answer rejected: drift, accuracy drop
    shifted = CohortGenerator(CohortConfig(n=60, seed=5, zh_fraction=1.0), tiny_kb).generate()
    url = filled(shifted, verdict="reject", name="shifted")
    html = tmp_path / "monitor.html"
    args = ["monitor", "--database", url, "--reference", str(model_dir), "--html", str(html),
            "--json", "--min-feedback", "10"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    found = json.loads(result.stdout)
    assert found["feature_psi"]["language"] > 0.2
    assert found["live_accuracy"] == 0.0
    assert "PSI language" in found["summary"] and "accuracy 0.00 vs reference" in found["summary"]
    page = html.read_text("utf-8")
    assert "dxkit monitoring report" in page and page.count("data:image/png;base64,") == 3
    assert "PSI language" in page


def test_monitor_without_reference_computes_one_from_the_training_file(
    filled, model_dir: Path, cohort: list[LabeledCase], tmp_path: Path
) -> None:
    from dxkit.cases.io import write_jsonl

    bare = tmp_path / "bare"
    bare.mkdir()
    for item in model_dir.iterdir():
        if item.name != REFERENCE_FILE:
            (bare / item.name).write_bytes(item.read_bytes())
    url = filled(cohort[:40], verdict="none")
    result = runner.invoke(app, ["monitor", "--database", url, "--model", str(bare)])
    assert isinstance(result.exception, InputError)
    assert "--reference: expected a model directory with reference.json" in str(result.exception)
    write_jsonl(tmp_path / "train.jsonl", cohort)
    args = ["monitor", "--database", url, "--model", str(bare), "--reference",
            str(tmp_path / "train.jsonl"), "--json"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code in (0, 1), result.output
    assert json.loads(result.stdout)["reference"]["n"] == len(cohort)


def test_bad_database_and_empty_window_are_errors(filled, tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="--database: expected the service's existing"):
        load_answers(f"sqlite:///{tmp_path / 'absent.sqlite3'}")
    empty = filled([], name="empty")
    with pytest.raises(InputError, match="monitoring window: expected stored answers"):
        compare(ReferenceProfile(n=1, features={}, conditions={}), load_answers(empty))
    # the command line: one error line, exit code 2, for schedulers
    env = {**os.environ, "DXKIT_HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "dxkit", "monitor", "--database", "mysql://host/db"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: database URL: expected a sqlite or postgresql URL")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_thresholds_are_configurable() -> None:
    reference = ReferenceProfile(n=10, features={}, conditions={"A": 1.0}, abstain_rate=0.0)
    from dxkit.monitor.window import LiveAnswer

    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    answers = [LiveAnswer("s", None, None, "A", 0.9, True, None, None, when)]
    assert compare(reference, answers).alerts == ["abstention 1.00 vs reference 0.00"]
    assert compare(reference, answers, Thresholds(abstain_rise=1.0)).alerts == []
