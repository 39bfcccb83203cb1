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
    file: Annotated[Path, typer.Argument(help="cases: .csv, .jsonl or .parquet")],
    out: Annotated[Path, typer.Option("--out", help="scores: .csv, .jsonl or .parquet")],
    model_dir: Annotated[Path | None, typer.Option("--model", help="saved model directory")] = None,
    batch_size: Annotated[int, typer.Option(help="cases per batch (bounds memory)")] = 256,
    top: Annotated[int, typer.Option(help="conditions listed per case")] = 5,
    backend: BackendOpt = None,
) -> None:
    """Score a case file in streaming batches; rerun the same command to resume."""
    from dxkit.inference.score import score_file

    console = Console(stderr=True)
    if model_dir is None:
        from dxkit.pipeline import load_model_or_default

        model = load_model_or_default(None, console=console)
    else:
        from dxkit.inference.backends import describe, select_backend

        model = select_backend(model_dir, backend)
        console.print(f"backend: {describe(model)}")
    summary = score_file(file, out, model, batch_size=batch_size, top=top)
    resumed = f" (resumed after {summary.skipped} rows)" if summary.skipped else ""
    print(f"scored {summary.scored} rows into {summary.out}{resumed}")


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
