"""``dxkit deid`` and ``dxkit deid-eval``: de-identify text files and measure how well.

Kept apart from :mod:`dxkit.cli` so the main command file stays about diagnosis; both
commands are registered on the same typer app.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from dxkit.deid.types import PhiKind
from dxkit.errors import DataNotFoundError, InputError

PolicyOpt = Annotated[
    str,
    typer.Option("--policy", help="tag ([NAME]) | surrogate (consistent fake values) | remove"),
]


def deid(
    file: Annotated[str, typer.Argument(help="text file to de-identify, or - for stdin")],
    out: Annotated[
        Path | None, typer.Option("--out", help="write here (atomically) instead of stdout")
    ] = None,
    policy: PolicyOpt = "tag",
    patient_id: Annotated[
        str, typer.Option(help="whose text this is: with $DXKIT_DEID_KEY, fixes surrogates")
    ] = "",
    report: Annotated[
        bool, typer.Option("--report", help="print counts by kind to stderr (never values)")
    ] = False,
    report_json: Annotated[
        Path | None, typer.Option("--report-json", help="write the counts by kind as JSON")
    ] = None,
) -> None:
    """De-identify a clinical text file: names, dates, numbers, places -> tags or surrogates.

    The key for reproducible surrogates and date shifts is read from $DXKIT_DEID_KEY
    (never from the command line, which other users can see); without it every run
    draws fresh ones.
    """
    from dxkit.deid.replace import KEY_ENV, Deidentifier, parse_policy
    from dxkit.deid.stream import atomic_text_writer, check_output_path, deidentify_stream

    chosen = parse_policy(policy)
    source_path = None if file == "-" else Path(file)
    if source_path is not None and not source_path.is_file():
        raise DataNotFoundError(
            "input",
            expected="an existing text file or - for stdin",
            found=f"{source_path} is a folder" if source_path.is_dir() else f"no file {file}",
            fix="check the path",
        )
    for target in (out, report_json):
        if target is not None:
            check_output_path(source_path, target)
    if out is not None and report_json is not None and out.resolve() == report_json.resolve():
        raise InputError(
            "--report-json",
            expected="a path other than --out",
            found="the same path",
            fix="write the report to its own file",
        )
    status = Console(stderr=True)
    if os.environ.get(KEY_ENV) and not patient_id:
        status.print(
            f"warning: {KEY_ENV} is set but --patient-id is not: every file run this way "
            "shares one date offset, so one known date reveals it for all of them"
        )
    with status.status("loading the de-identification rules"):
        deidentifier = Deidentifier(chosen, patient_id=patient_id)
    total = source_path.stat().st_size if source_path is not None else None
    progress = Progress(
        TextColumn("de-identifying"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=status,
        transient=True,
        disable=total is None or not status.is_terminal,
    )
    with progress:
        task = progress.add_task("deid", total=total)
        with _open_source(source_path) as source:
            if out is None:
                counts = deidentify_stream(
                    source, sys.stdout, deidentifier, name=file, on_bytes=_advance(progress, task)
                )
            else:
                with atomic_text_writer(out) as sink:
                    counts = deidentify_stream(
                        source, sink, deidentifier, name=file, on_bytes=_advance(progress, task)
                    )
    if report:
        status.print(_report_table(counts))
    if report_json is not None:
        payload = {"policy": chosen.value, "counts": {k.value: v for k, v in counts.items()}}
        with atomic_text_writer(report_json) as sink:
            sink.write(json.dumps(payload, indent=2) + "\n")


def deid_eval(
    n: Annotated[int, typer.Option(help="labelled notes to generate", min=10)] = 1000,
    seed: Annotated[int, typer.Option(help="seed of the labelled notes (2026: held out)")] = 2026,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    strict: Annotated[
        bool, typer.Option(help="exit with status 1 when a target is not met")
    ] = False,
) -> None:
    """Measure de-identification on generated notes with labelled identifiers (en + zh)."""
    from dxkit.deid.evaluation import evaluate_detector

    with Console(stderr=True).status(f"scoring {n} labelled notes"):
        report = evaluate_detector(n=n, seed=seed)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.render())
    if strict and not report.passed:
        raise typer.Exit(1)


def _report_table(counts: Counter[PhiKind]) -> Table:
    table = Table(title="identifiers found (counts only)")
    table.add_column("kind")
    table.add_column("count", justify="right")
    for kind in PhiKind:
        if counts.get(kind):
            table.add_row(kind.value, str(counts[kind]))
    table.add_row("total", str(sum(counts.values())))
    return table


def _advance(progress: Progress, task: TaskID) -> Callable[[int], None]:
    def advance(size: int) -> None:
        progress.advance(task, size)

    return advance


@contextmanager
def _open_source(path: Path | None) -> Iterator[BinaryIO]:
    """stdin's bytes, or the file's (closed afterwards)."""
    if path is None:
        yield sys.stdin.buffer
        return
    with path.open("rb") as handle:
        yield handle


def register(app: typer.Typer) -> None:
    """Add the de-identification commands to the dxkit app."""
    app.command("deid")(deid)
    app.command("deid-eval")(deid_eval)
