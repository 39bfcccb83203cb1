"""MLflow tracking and registry: runs are logged, versions resolve to directories, errors name
what exists. One SQLite store per module (creating it runs MLflow's migrations, ~4 s)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from dxkit.cases.io import write_jsonl
from dxkit.cases.synthetic import CohortConfig, CohortGenerator
from dxkit.cli import app
from dxkit.errors import InputError
from dxkit.knowledge.loader import KnowledgeBase
from dxkit.models.base import MANIFEST, load_model
from dxkit.pipeline import fit_model
from dxkit.tracking.registry import parse_model_uri, resolve_model_uri
from dxkit.tracking.runs import flat_metrics, log_run
from dxkit.tracking.store import artifact_root, client, tracking_uri

runner = CliRunner()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, tiny_kb: KnowledgeBase) -> Path:
    root = tmp_path_factory.mktemp("tracked")
    cohort = CohortGenerator(CohortConfig(n=120, seed=0), tiny_kb).generate()
    write_jsonl(root / "train.jsonl", cohort)
    model, _ = fit_model(
        "tfidf", cohort, seed=0, console=Console(quiet=True), soft=False, calibrate=False
    )
    model.save(root / "model")
    return root


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DXKIT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DXKIT_TRACKING_URI", raising=False)
    return tmp_path / "home"


def test_default_store_is_sqlite_under_dxkit_home(home: Path) -> None:
    uri = tracking_uri()
    assert uri == f"sqlite:///{(home / 'mlflow' / 'mlflow.db').resolve()}"
    assert artifact_root(uri) == (home / "mlflow" / "artifacts").resolve().as_uri()
    with pytest.raises(InputError, match="--tracking-uri: expected an MLflow tracking URI"):
        tracking_uri("ftp://host/x")


def test_flat_metrics_keeps_finite_numbers_only() -> None:
    found = flat_metrics({"top1": 0.5, "nll": float("nan"), "sub": {"a": 1}, "flag": True})
    assert found == {"top1": 0.5, "sub.a": 1.0}


def test_run_logs_params_metrics_model_and_registers_versions(files: Path, store: str) -> None:
    first = log_run(
        command="train",
        params={"model": "tfidf", "n": 120},
        metrics={"top1": 0.75, "subgroups": {"sex": "x"}},
        uri=store,
        model_dir=files / "model",
        register="tiny",
    )
    second = log_run(command="train", params={}, metrics={}, uri=store,
                     model_dir=files / "model", register="tiny")  # fmt: skip
    assert (first.model_version, second.model_version) == (1, 2)
    mlflow = client(store)
    run = mlflow.get_run(first.run_id)
    assert run.data.params == {"model": "tfidf", "n": "120"}
    assert run.data.metrics == {"top1": 0.75}
    assert run.data.tags["command"] == "train"
    names = {f.path for f in mlflow.list_artifacts(first.run_id)}
    assert {"metrics.json", "model"} <= names
    # resolving downloads the version's model once into the cache, atomically
    local = resolve_model_uri("models:/tiny/latest", tracking=store)
    assert local.name == "2" and (local / MANIFEST).is_file()
    assert load_model(local).labels == load_model(files / "model").labels
    assert resolve_model_uri("models:/tiny/1", tracking=store).name == "1"
    assert resolve_model_uri(files / "model") == files / "model"  # a directory as is


def test_unknown_name_or_version_lists_what_exists(files: Path, store: str) -> None:
    log_run(command="train", params={}, metrics={}, uri=store, model_dir=files / "model",
            register="known")  # fmt: skip
    with pytest.raises(InputError, match=r"expected a model registered as 'absent'; found "
                       r"registered names: .*known"):  # fmt: skip
        resolve_model_uri("models:/absent/1", tracking=store)
    with pytest.raises(InputError, match="expected version 9 of 'known'; found versions 1"):
        resolve_model_uri("models:/known/9", tracking=store)
    with pytest.raises(InputError, match="expected models:/NAME/VERSION"):
        parse_model_uri("models:/only-a-name")
    with pytest.raises(InputError, match="expected a version number or 'latest'"):
        parse_model_uri("models:/x/newest")


def test_train_and_evaluate_commands_track_and_load_from_registry(
    files: Path, store: str, tmp_path: Path
) -> None:
    out = tmp_path / "m"
    args = ["train", "--data", str(files / "train.jsonl"), "--out", str(out), "--no-soft",
            "--no-calibrate", "--no-deid", "--track", "--tracking-uri", store,
            "--register", "cli-model"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "registered as models:/cli-model/1" in " ".join(result.output.split())
    assert json.loads((out / "reference.json").read_text("utf-8"))["n"] > 0
    html = tmp_path / "r.html"
    result = runner.invoke(app, ["evaluate", "models:/cli-model/1", "--data",
                                 str(files / "train.jsonl"), "--json", "--no-deid", "--html",
                                 str(html), "--track", "--tracking-uri", store])  # fmt: skip
    assert result.exit_code == 0, result.output
    top1 = json.loads(result.stdout.strip().splitlines()[-1])["top1"]
    mlflow = client(store)
    runs = mlflow.search_runs([mlflow.get_experiment_by_name("dxkit").experiment_id],
                              filter_string="tags.command = 'evaluate'")  # fmt: skip
    assert runs and runs[0].data.metrics["top1"] == pytest.approx(top1)
    reports = {f.path for f in mlflow.list_artifacts(runs[0].info.run_id, "reports")}
    assert reports == {"reports/r.html", "reports/r.md"}
    scores = tmp_path / "scores.jsonl"
    args = ["score", str(files / "train.jsonl"), "--out", str(scores),
            "--model", "models:/cli-model/1", "--tracking-uri", store]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert len(scores.read_text("utf-8").splitlines()) == 120


def test_register_without_tracking_is_refused(files: Path, tmp_path: Path) -> None:
    args = ["train", "--data", str(files / "train.jsonl"), "--out", str(tmp_path / "m"),
            "--no-track", "--register", "x"]  # fmt: skip
    result = runner.invoke(app, args)
    assert isinstance(result.exception, InputError)
    assert "--register: expected tracking switched on" in str(result.exception)
    assert not (tmp_path / "m").exists()
