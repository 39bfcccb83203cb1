"""Fast-inference commands: ``dxkit export``, ``dxkit score`` and ``dxkit bench``.

Kept apart from :mod:`dxkit.cli` so torch, ONNX Runtime and pyarrow load only for these
commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from dxkit.errors import InputError

BackendOpt = Annotated[
    str | None,
    typer.Option("--backend", help="auto | torch | onnx | int8 [env DXKIT_BACKEND, default auto]"),
]


def export(
    model_dir: Annotated[Path, typer.Argument(help="saved encoder model directory")],
    fmt: Annotated[str, typer.Option("--format", help="export format (onnx)")] = "onnx",
    int8: Annotated[bool, typer.Option("--int8", help="also write a dynamic int8 copy")] = False,
) -> None:
    """Export a fine-tuned encoder to ONNX (and int8) inside its model directory."""
    from dxkit.inference.export import export_onnx

    if fmt.lower() != "onnx":
        raise InputError("--format", expected="onnx", found=repr(fmt), fix="pass --format onnx")
    console = Console(stderr=True)
    with console.status("exporting to ONNX" + (" and quantising to int8" if int8 else "")):
        result = export_onnx(model_dir, int8=int8)
    for path in (result.fp32, result.int8):
        if path is not None:
            size = path.stat().st_size / 2**20
            print(f"wrote {path} ({size:.1f} MiB)")
    print(f"sidecar {result.sidecar} (model_id {result.model_id})")


def score(
    source: Annotated[
        str, typer.Argument(help="cases: .csv/.jsonl/.parquet file, a directory, or a URL")
    ],
    out: Annotated[Path, typer.Option("--out", help="scores: .csv, .jsonl or .parquet")],
    model_dir: Annotated[
        str | None,
        typer.Option("--model", help="saved model directory or models:/NAME/VERSION"),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="cases per batch (bounds memory)")] = 256,
    top: Annotated[int, typer.Option(help="conditions listed per case")] = 5,
    backend: BackendOpt = None,
    engine: Annotated[
        str | None,
        typer.Option(
            help="local | ray | spark: score on an engine (a directory or URL implies local); "
            "without it, one file is streamed in this process and a rerun resumes"
        ),
    ] = None,
    workers: Annotated[int, typer.Option(help="engine workers (processes, actors, cores)")] = 1,
    overwrite: Annotated[
        bool, typer.Option(help="engine runs: replace a complete earlier --out")
    ] = False,
    tracking_uri: Annotated[
        str | None,
        typer.Option(help="registry for models:/ URIs [env MLFLOW_TRACKING_URI; local store]"),
    ] = None,
) -> None:
    """Score cases in streaming batches, in this process or on Ray / Spark.

    Without --engine, one file is streamed here with a progress bar, and rerunning the
    same command resumes. With --engine, every input file is scored by the engine's
    workers into a temporary location renamed into place when complete (a rerun starts
    clean), with the conformal set, abstention and model version per case.
    """
    console = Console(stderr=True)
    local_dir: Path | None = None
    if model_dir is not None:
        from dxkit.tracking.registry import is_registry_uri, resolve_model_uri

        local_dir = (
            resolve_model_uri(model_dir, tracking=tracking_uri)
            if is_registry_uri(model_dir)
            else Path(model_dir)
        )
    if engine is None and ("://" in source or Path(source).is_dir() or workers > 1):
        engine = "local"
    if engine is not None:
        _score_on_engine(source, out, local_dir, engine, workers, batch_size, top, overwrite)
        return
    from dxkit.inference.score import score_file

    if local_dir is None:
        from dxkit.pipeline import load_model_or_default

        model = load_model_or_default(None, console=console)
    else:
        from dxkit.inference.backends import describe, select_backend

        model = select_backend(local_dir, backend, mode="throughput")
        console.print(f"backend: {describe(model)}")
    summary = score_file(Path(source), out, model, batch_size=batch_size, top=top)
    resumed = f" (resumed after {summary.skipped} rows)" if summary.skipped else ""
    print(f"scored {summary.scored} rows into {summary.out}{resumed}")


def _score_on_engine(
    source: str,
    out: Path,
    model_dir: Path | None,
    engine: str,
    workers: int,
    batch_size: int,
    top: int,
    overwrite: bool,
) -> None:
    """``dxkit score --engine``: the default model is trained and cached first if needed."""
    from dxkit.scale.engines import score_distributed

    if model_dir is None:
        from dxkit.models.default import default_model_dir, load_default_model

        load_default_model()
        model_dir = default_model_dir()
    summary = score_distributed(
        source,
        out,
        model_dir,
        engine=engine,
        workers=workers,
        batch_size=batch_size,
        top=top,
        overwrite=overwrite,
    )
    print(
        f"scored {summary.cases} cases into {summary.out} on {engine} x{workers} "
        f"in {summary.total_s:.1f} s ({summary.cases_per_s:,.0f} cases/s)"
    )


def bench(
    model_dir: Annotated[
        Path | None, typer.Option("--model", help="fine-tuned encoder (default: train one)")
    ] = None,
    n_cases: Annotated[int, typer.Option("--cases", help="validation cases to score")] = 400,
    work: Annotated[
        Path | None, typer.Option(help="cache folder for the trained model and exports")
    ] = None,
) -> None:
    """Speed benchmark: HF pipeline vs dxkit torch, ONNX fp32 and ONNX int8."""
    from dxkit.inference.bench import run_benchmark

    run_benchmark(model_dir=model_dir, n_cases=n_cases, work=work)


def register(app: typer.Typer) -> None:
    """Add ``dxkit export``, ``dxkit score`` and ``dxkit bench`` to the dxkit app."""
    app.command("export")(export)
    app.command("score")(score)
    app.command("bench")(bench)
