"""The ``dxkit`` command line: a thin typer layer over the pipeline.

Every user error is a :class:`dxkit.errors.DxkitError` (or a pydantic validation error)
and is printed as one readable line with a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from dxkit.cli_deid import register as register_deid_commands
from dxkit.cli_export import register as register_inference_commands
from dxkit.cli_forecast import register as register_forecast_commands
from dxkit.cli_mlops import NprocOpt, RegisterOpt, TrackingUriOpt, TrackOpt
from dxkit.cli_mlops import register as register_mlops_commands
from dxkit.cli_report import register as register_report_commands
from dxkit.cli_serve import register as register_serve_commands
from dxkit.errors import DxkitError, InputError

if TYPE_CHECKING:
    from dxkit.cases.synthetic import CohortConfig

app = typer.Typer(
    help="dxkit: differential diagnosis from clinical notes, patient facts and device data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()

FORMATS = "ddxplus|symptom2disease|zh|jsonl|csv|fhir|kaggle|uci_heart|pima|mtsamples"
DataOpt = Annotated[
    Path | None, typer.Option("--data", help="data file (default: a synthetic cohort)")
]
FormatOpt = Annotated[str, typer.Option("--format", help=f"data format: {FORMATS}")]
DeidOpt = Annotated[
    bool, typer.Option("--deid/--no-deid", help="replace identifiers in the notes first")
]


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="JSONL file to write")],
    n: Annotated[int, typer.Option(help="number of cases")] = 3000,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same cohort)")] = 0,
    zh_fraction: Annotated[float, typer.Option(help="share of notes in Chinese")] = 0.2,
    typo_rate: Annotated[float, typer.Option(help="per-word typo probability")] = 0.02,
    missing_rate: Annotated[float, typer.Option(help="per-field missing probability")] = 0.1,
    irrelevant_rate: Annotated[float, typer.Option(help="chance of an unrelated finding")] = 0.3,
    implausible_rate: Annotated[float, typer.Option(help="chance of an impossible reading")] = 0.0,
    label_noise: Annotated[float, typer.Option(help="chance of a wrong label")] = 0.0,
) -> None:
    """Generate a seeded synthetic cohort from the knowledge base (JSONL with labels)."""
    from dxkit.cases.io import write_jsonl
    from dxkit.cases.synthetic import CohortConfig, NoiseConfig, generate_cohort

    config = _config(
        lambda: CohortConfig(
            n=n,
            seed=seed,
            zh_fraction=zh_fraction,
            noise=NoiseConfig(
                typo_rate=typo_rate,
                missing_rate=missing_rate,
                irrelevant_rate=irrelevant_rate,
                implausible_rate=implausible_rate,
                label_noise=label_noise,
            ),
        )
    )
    if out.is_dir():
        raise InputError(
            "--out", expected="a file path", found=f"{out} is a directory", fix="add a file name"
        )
    with console.status(f"generating {n} cases"):
        cohort = generate_cohort(config)
    write_jsonl(out, cohort)
    labels = {lc.label for lc in cohort}
    console.print(f"wrote {len(cohort)} cases ({len(labels)} conditions) to {out}")


@app.command()
def check(
    file: Annotated[Path, typer.Argument(help="JSONL file of cases")],
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Data-quality report for a whole data set: rejections, warnings, missingness."""
    from dxkit.quality.report import check_file, render_report

    report = check_file(file)
    if as_json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        render_report(report, console)


@app.command()
def train(
    model: Annotated[str, typer.Option("--model", help="tfidf | rnn | encoder")] = "tfidf",
    out: Annotated[Path, typer.Option(help="directory to save the model into")] = Path(
        "dxkit-output/model"
    ),
    data: DataOpt = None,
    fmt: FormatOpt = "jsonl",
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    n: Annotated[int, typer.Option(help="synthetic cohort size when no --data")] = 3000,
    limit: Annotated[int | None, typer.Option(help="use only the first N cases")] = None,
    soft: Annotated[
        bool, typer.Option(help="train on the reference differential where the data has one")
    ] = True,
    augment: Annotated[
        int, typer.Option(help="small data: train on N variants of each case (1 = off)", min=1)
    ] = 1,
    calibrate: Annotated[
        bool, typer.Option(help="hold out 10% of patients to fit a temperature")
    ] = True,
    alpha: Annotated[
        float, typer.Option(help="error rate of the conformal prediction sets, in (0, 1)")
    ] = 0.1,
    epochs: Annotated[
        int | None, typer.Option(help="passes over the data (rnn, encoder; default: model's)")
    ] = None,
    deid: DeidOpt = True,
    nproc: NprocOpt = 1,
    track_on: TrackOpt = True,
    tracking_uri: TrackingUriOpt = None,
    register: RegisterOpt = None,
) -> None:
    """Train a model on a data file (or the synthetic cohort) and save it to --out."""
    from dxkit.calibrate.conformal import check_alpha
    from dxkit.cli_mlops import check_tracking, save_reference, track, train_in_processes
    from dxkit.models.shared import check_model_out
    from dxkit.pipeline import fit_model, keep_valid, load_training_data
    from dxkit.train.distributed import check_nproc

    check_model_out(out)
    check_alpha(alpha)
    check_nproc(model, nproc)
    check_tracking(track_on, tracking_uri, register)
    labeled = load_training_data(
        data, fmt, n=n, seed=seed, limit=limit, console=console, deidentify=deid
    )
    options: dict[str, Any] = {
        "seed": seed,
        "soft": soft,
        "calibrate": calibrate,
        "augment_factor": augment,
    }
    options |= {"alpha": alpha, "epochs": epochs}
    started = time.perf_counter()
    if nproc > 1:
        fitted = train_in_processes(model, labeled, out, nproc, options)
        dropped = len(labeled) - len(keep_valid(labeled)[0])
    else:
        fitted, dropped = fit_model(model, labeled, console=console, **options)
    seconds = time.perf_counter() - started
    if nproc == 1:
        fitted.save(out)
    save_reference(out, fitted, labeled)
    console.print(
        f"trained {model} on {len(labeled) - dropped} cases, {len(fitted.labels)} labels, "
        f"in {seconds:.1f}s ({dropped} rejected by validation); saved to {out}"
    )
    report = getattr(fitted, "report", None)
    track(
        track_on,
        console,
        command="train",
        uri=tracking_uri,
        params={"model": model, "data": data, "format": fmt, "n": n, "limit": limit,
                "deid": deid, "nproc": nproc, **options},
        metrics={"n_cases": len(labeled) - dropped, "n_rejected": dropped,
                 "n_labels": len(fitted.labels), "seconds": seconds,
                 **(report if isinstance(report, dict) else {})},
        model_dir=out,
        register=register,
    )  # fmt: skip


@app.command()
def evaluate(
    model_dir: Annotated[Path, typer.Argument(help="directory written by `dxkit train`")],
    data: DataOpt = None,
    fmt: FormatOpt = "jsonl",
    seed: Annotated[int, typer.Option(help="seed of the synthetic test cohort")] = 1,
    n: Annotated[int, typer.Option(help="synthetic cohort size when no --data")] = 1000,
    limit: Annotated[int | None, typer.Option(help="use only the first N cases")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    html_out: Annotated[
        Path | None,
        typer.Option("--html", help="write a self-contained HTML report (and a model card)"),
    ] = None,
    card: Annotated[
        Path | None, typer.Option(help="model card path (default: the --html path with .md)")
    ] = None,
    deid: DeidOpt = True,
    track_on: TrackOpt = True,
    tracking_uri: TrackingUriOpt = None,
) -> None:
    """Score a saved model on a data file: accuracy, calibration, differential, subgroups."""
    from dxkit.cli_mlops import check_tracking, track
    from dxkit.models.base import load_model
    from dxkit.pipeline import evaluate_model, load_training_data
    from dxkit.render import metrics_table, subgroup_table
    from dxkit.report.html import check_output_file
    from dxkit.tracking.registry import is_registry_uri, resolve_model_uri

    if card is None and html_out is not None:
        card = html_out.with_suffix(".md")
    for option, target in (("--html", html_out), ("--card", card)):
        if target is not None:
            check_output_file(target, option)
    check_tracking(track_on, tracking_uri, None)
    model_ref = str(model_dir)
    if is_registry_uri(model_ref):  # models:/NAME/VERSION: fetched from the registry
        model_dir = resolve_model_uri(model_ref, tracking=tracking_uri)
    fitted = load_model(model_dir)
    quiet = Console(stderr=True, quiet=as_json)
    labeled = load_training_data(
        data, fmt, n=n, seed=seed, limit=limit, console=quiet, deidentify=deid
    )
    metrics = evaluate_model(fitted, labeled, console=quiet)
    name = str(data) if data else f"a synthetic cohort ({n} cases, seed {seed})"
    if card is not None:
        from dxkit.report.model_card import model_info, write_model_card

        write_model_card(card, model_info(model_dir), metrics, name)
        quiet.print(f"model card written to {card}")
    if html_out is not None:
        from dxkit.report.html import compute_figures, explained_examples, write_html_report
        from dxkit.report.model_card import model_info

        figures = compute_figures(fitted, labeled)
        examples = explained_examples(fitted, labeled)
        write_html_report(html_out, model_info(model_dir), metrics, figures, examples, name)
        quiet.print(f"HTML report written to {html_out}")
    track(
        track_on,
        quiet,
        command="evaluate",
        uri=tracking_uri,
        params={"model": model_ref, "model_id": getattr(fitted, "model_id", None), "data": name,
                "format": fmt, "limit": limit, "deid": deid},
        metrics=metrics,
        files=[html_out, card],
    )  # fmt: skip
    if as_json:
        print(json.dumps(metrics, ensure_ascii=False))
        return
    keys = ["n", "top1", "top3", "top5", "macro_f1", "balanced_accuracy", "ece", "brier", "nll"]
    keys += ["gtpa1", "gtpa", "ddr", "ddp", "ddf1", "ddf1_uncalibrated", "n_rejected"]
    keys += ["alpha", "coverage", "mean_set_size", "abstain_rate"]
    console.print(metrics_table(f"{model_dir} on {data or 'synthetic cohort'}", metrics, keys))
    if metrics.get("subgroups"):
        console.print(subgroup_table(metrics["subgroups"]))


@app.command()
def diagnose(
    file: Annotated[Path | None, typer.Argument(help="case JSON or JSONL file")] = None,
    text: Annotated[str | None, typer.Option(help="free-text note instead of a file")] = None,
    age: Annotated[float | None, typer.Option(help="age in years (with --text)")] = None,
    sex: Annotated[str | None, typer.Option(help="female | male (with --text)")] = None,
    obs: Annotated[
        list[str] | None,
        typer.Option(help="observation 'CODE=VALUE UNIT', e.g. '8310-5=38.9 Cel' (repeatable)"),
    ] = None,
    model_dir: Annotated[Path | None, typer.Option("--model", help="saved model directory")] = None,
    top: Annotated[int, typer.Option(help="conditions to list")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per case")] = False,
    allow_unknown_codes: Annotated[
        bool, typer.Option(help="keep observations with uncatalogued LOINC codes (warning)")
    ] = False,
    evidence: Annotated[
        int, typer.Option(help="explain the top N conditions: evidence for and against")
    ] = 3,
    deid: DeidOpt = True,
) -> None:
    """Differential diagnosis for a case file, or for --text with --age/--sex/--obs."""
    from dxkit.pipeline import cases_from_cli, load_model_or_default
    from dxkit.render import print_differential
    from dxkit.report.diagnose import diagnose as run_diagnose

    cases = cases_from_cli(file, text, age, sex, obs or [])
    status = Console(stderr=True, quiet=as_json)
    if deid:
        from dxkit.deid.cases import deidentify_for_pipeline

        cases = deidentify_for_pipeline(cases, console=status)
    model = load_model_or_default(model_dir, console=status)
    answers = run_diagnose(
        model, cases, top=top, strict=not allow_unknown_codes, evidence=min(evidence, top)
    )
    for answer in answers:
        if as_json:
            print(answer.model_dump_json())
        else:
            print_differential(console, answer)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="directory for the demo outputs")] = Path(
        "dxkit-output"
    ),
    n: Annotated[int, typer.Option(help="synthetic cohort size")] = 3000,
) -> None:
    """Generate a cohort, train and evaluate the default model, diagnose three examples."""
    from dxkit.demo import run_demo

    run_demo(out, n=n, console=console)


register_deid_commands(app)
register_serve_commands(app)
register_inference_commands(app)
register_forecast_commands(app)
register_report_commands(app)
register_mlops_commands(app)


def _config(build: Callable[[], CohortConfig]) -> CohortConfig:
    try:
        return build()
    except ValueError as exc:
        raise InputError(
            "option", expected="values in range", found=str(exc), fix="see `dxkit --help`"
        ) from None


def _describe_validation(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        problems.append(f"{where}: {err['msg']}")
    return (
        f"invalid {exc.title}: " + "; ".join(problems[:5]) + ". Fix: correct these fields "
        "(see the case schema in the README)."
    )


def _fail(message: str) -> None:
    """Print one plain line to stderr (no markup, no wrapping) and exit with code 2."""
    one_line = " ".join(message.split())
    sys.stderr.write(f"error: {one_line}\n")
    sys.exit(2)


def main() -> None:
    """Entry point: run the app, turning user errors into one line and exit code 2."""
    try:
        app()
    except DxkitError as exc:
        _fail(str(exc))
    except ValidationError as exc:
        _fail(_describe_validation(exc))
    except IsADirectoryError as exc:
        _fail(f"{exc.filename} is a directory; expected a file. Fix: pass a file path.")
    except (FileNotFoundError, PermissionError) as exc:
        _fail(f"cannot access {exc.filename}: {exc.strerror}. Fix: check the path.")
