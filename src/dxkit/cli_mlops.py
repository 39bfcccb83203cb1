"""``dxkit monitor`` and ``dxkit retrain``, and the tracking options of train / evaluate.

Exit codes of ``monitor``, for schedulers: 0 nothing crossed a threshold, 1 something did
(one summary line names what), 2 the input was unusable (one error line).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from dxkit.errors import DxkitError, InputError

if TYPE_CHECKING:
    from dxkit.cases.schema import LabeledCase
    from dxkit.models.base import DiagnosisModel
    from dxkit.tracking.runs import TrackedRun

TrackOpt = Annotated[
    bool,
    typer.Option(
        "--track/--no-track",
        envvar="DXKIT_TRACK",
        help="record the run in the MLflow tracking store (env DXKIT_TRACK=0 to switch off)",
    ),
]
TrackingUriOpt = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        help="MLflow tracking URI (default: $DXKIT_TRACKING_URI, else a SQLite store "
        "under $DXKIT_HOME/mlflow)",
    ),
]
RegisterOpt = Annotated[
    str | None, typer.Option("--register", help="register the model under this name")
]
NprocOpt = Annotated[
    int, typer.Option("--nproc", help="data-parallel training processes (rnn, encoder)", min=1)
]


def check_tracking(track: bool, uri: str | None, register: str | None) -> None:
    """Refuse a bad tracking setup before any training starts (no store is opened)."""
    from dxkit.tracking.registry import check_name
    from dxkit.tracking.store import tracking_uri

    if register is not None:
        check_name(register)
        if not track:
            raise InputError(
                "--register",
                expected="tracking switched on (the registry lives in the tracking store)",
                found="--no-track",
                fix="drop --no-track, or drop --register",
            )
    if track:
        tracking_uri(uri)


def track(
    track_on: bool,
    console: Console,
    *,
    command: str,
    uri: str | None,
    params: Mapping[str, Any],
    metrics: Mapping[str, Any],
    model_dir: Path | None = None,
    files: Sequence[Path | None] = (),
    register: str | None = None,
) -> TrackedRun | None:
    """Log a finished command to the tracking store and print where it went."""
    if not track_on:
        return None
    from dxkit.tracking.runs import log_run

    try:
        run = log_run(
            command=command,
            params=params,
            metrics=metrics,
            uri=uri,
            model_dir=model_dir,
            files=[f for f in files if f is not None and f.is_file()],
            register=register,
        )
    except DxkitError as exc:
        saved = f" (the model is saved in {model_dir})" if model_dir else ""
        raise InputError(
            "tracking", expected=exc.expected, found=exc.found + saved, fix=exc.fix
        ) from None
    console.print(run.describe())
    return run


def train_in_processes(
    kind: str, labeled: Sequence[LabeledCase], out: Path, nproc: int, options: dict[str, Any]
) -> DiagnosisModel:
    """``dxkit train --nproc N``: data-parallel fit, saved by rank 0, loaded back here."""
    from dxkit.models.base import load_model
    from dxkit.train.distributed import fit_pipeline, train_data_parallel

    train_data_parallel(nproc, fit_pipeline, (kind, list(labeled), options), out)
    return load_model(out)


def save_reference(out: Path, model: DiagnosisModel, labeled: Sequence[LabeledCase]) -> None:
    """Write the training reference for ``dxkit monitor`` into the model directory."""
    from dxkit.monitor.profile import build_reference, write_reference

    write_reference(out, build_reference(model, labeled))


def _reference(model: str | None, reference: Path | None, fmt: str) -> Any:
    """The reference profile: a model directory's ``reference.json`` or one computed."""
    from dxkit.models.base import load_model
    from dxkit.monitor.profile import build_reference, read_reference
    from dxkit.pipeline import load_training_data
    from dxkit.tracking.registry import resolve_model_uri

    model_dir = resolve_model_uri(model) if model else None
    if reference is not None and reference.is_dir():
        model_dir, reference = reference, None
    if reference is None:
        found = read_reference(model_dir) if model_dir else None
        if found is None:
            raise InputError(
                "--reference",
                expected="a model directory with reference.json, or a training file",
                found=f"no reference.json in {model_dir}" if model_dir else "neither given",
                fix="pass --reference TRAIN_FILE --model MODEL (models trained before "
                "monitoring existed have no reference.json)",
            )
        return found
    if model_dir is None:
        raise InputError(
            "--model",
            expected="the served model, to profile its answers on the training file",
            found="no --model",
            fix="add --model MODEL_DIR (or models:/NAME/VERSION)",
        )
    quiet = Console(stderr=True, quiet=True)
    labeled = load_training_data(reference, fmt, n=1, seed=0, limit=None, console=quiet)
    return build_reference(load_model(model_dir), labeled)


def monitor(
    database: Annotated[str, typer.Option("--database", help="the service's database URL")],
    model: Annotated[
        str | None, typer.Option("--model", help="served model: directory or models:/NAME/VER")
    ] = None,
    reference: Annotated[
        Path | None,
        typer.Option("--reference", help="model directory with reference.json, or train file"),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="format of a --reference file")] = "jsonl",
    since: Annotated[float, typer.Option("--since", help="days of answers to read")] = 7.0,
    html_out: Annotated[Path | None, typer.Option("--html", help="write an HTML report")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    psi_limit: Annotated[float, typer.Option("--psi", help="PSI alert threshold")] = 0.2,
    accuracy_drop: Annotated[float, typer.Option(help="alert on this accuracy drop")] = 0.1,
    abstain_rise: Annotated[float, typer.Option(help="alert on this abstention rise")] = 0.1,
    min_feedback: Annotated[int, typer.Option(help="verdicts needed to judge accuracy")] = 20,
) -> None:
    """Drift, live accuracy and abstention of the served model; exit 1 on an alert."""
    from dxkit.monitor.drift import Thresholds, compare
    from dxkit.monitor.window import load_answers
    from dxkit.report.html import check_output_file

    if html_out is not None:
        check_output_file(html_out, "--html")
    limits = Thresholds(
        psi=psi_limit,
        accuracy_drop=accuracy_drop,
        abstain_rise=abstain_rise,
        min_feedback=min_feedback,
    )
    answers = load_answers(database, since_days=since)  # the cheap check first
    result = compare(_reference(model, reference, fmt), answers, limits)
    if html_out is not None:
        from dxkit.monitor.report import write_monitor_html

        write_monitor_html(html_out, result, limits, f"Answers of the last {since:g} days")
    if as_json:
        print(json.dumps(result.to_dict() | {"summary": result.summary()}))
    else:
        print(result.summary())
    if result.alerts:
        raise typer.Exit(1)


def retrain(
    from_feedback: Annotated[
        bool, typer.Option("--from-feedback", help="train on the clinicians' verdicts")
    ] = False,
    database: Annotated[str, typer.Option("--database", help="the service's database URL")] = "",
    model: Annotated[
        str, typer.Option("--model", help="current model: directory or models:/NAME/VERSION")
    ] = "",
    out: Annotated[Path | None, typer.Option(help="write the new model here if kept")] = None,
    base: Annotated[
        Path | None, typer.Option("--base", help="original training data to train on too")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="format of --base")] = "jsonl",
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    register: RegisterOpt = None,
    tracking_uri: TrackingUriOpt = None,
    track_on: TrackOpt = True,
) -> None:
    """Train a new version from feedback; keep it only if it beats the current model."""
    from dxkit.models.shared import check_model_out
    from dxkit.monitor.retrain import retrain as run_retrain
    from dxkit.monitor.window import load_answers
    from dxkit.pipeline import load_training_data
    from dxkit.tracking.registry import resolve_model_uri

    console = Console()
    if not from_feedback or not database or not model:
        raise InputError(
            "retrain",
            expected="--from-feedback --database URL --model CURRENT",
            found="a missing option",
            fix="pass all three (retraining from feedback is the only source so far)",
        )
    if out is None and register is None:
        raise InputError(
            "retrain output", expected="--out DIR or --register NAME", found="neither",
            fix="say where the new model goes",
        )  # fmt: skip
    if out is not None:
        check_model_out(out)
    check_tracking(track_on, tracking_uri, register)
    current = resolve_model_uri(model, tracking=tracking_uri if track_on else None)
    quiet = Console(stderr=True, quiet=True)
    labeled = (
        load_training_data(base, fmt, n=1, seed=seed, limit=None, console=quiet) if base else []
    )
    with console.status("retraining on feedback"):
        result = run_retrain(current, load_answers(database), base=labeled, seed=seed)
    console.print(result.describe())
    if not result.accepted:
        console.print("the current model stays; nothing written")
        return
    target = out or Path(tempfile.mkdtemp(prefix="dxkit-retrain-")) / "model"
    try:
        result.candidate_model.save(target)
        save_reference(target, result.candidate_model, result.training_cases)
        track(
            track_on,
            console,
            command="retrain",
            uri=tracking_uri,
            params={"model": model, "base": base, "seed": seed, "n_train": result.n_train},
            metrics={
                "heldback_top1": result.candidate.top1,
                "heldback_ece": result.candidate.ece,
                "current_top1": result.current.top1,
                "current_ece": result.current.ece,
                "n_feedback": result.n_feedback,
            },
            model_dir=target,
            register=register,
        )
    finally:
        if out is None:
            shutil.rmtree(target.parent, ignore_errors=True)
    if out is not None:
        console.print(f"new model written to {out}")


def register(app: typer.Typer) -> None:
    """Add ``monitor`` and ``retrain`` to the CLI."""
    app.command()(monitor)
    app.command()(retrain)
