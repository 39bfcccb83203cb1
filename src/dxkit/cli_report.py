"""``dxkit report CASE``: one case as an HTML page, a PDF and/or spoken audio.

Kept apart from :mod:`dxkit.cli` so the main command file stays small; registered on the
same typer app. The case is de-identified first (always: the report may leave the
building, and an LLM may read it); with ``--llm`` and ``DXKIT_LLM_BASE_URL`` set the LLM
re-ranks, narrates and summarises, and any failure of it leaves the template report with
a warning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from dxkit.errors import InputError


def report(
    file: Annotated[Path, typer.Argument(help="case JSON file (one case)")],
    html_out: Annotated[Path | None, typer.Option("--html", help="write an HTML page")] = None,
    pdf_out: Annotated[Path | None, typer.Option("--pdf", help="write a PDF")] = None,
    audio_out: Annotated[
        Path | None, typer.Option("--audio", help="write a spoken summary (WAV, espeak-ng)")
    ] = None,
    lang: Annotated[str, typer.Option("--lang", help="summary language: en | zh")] = "en",
    llm: Annotated[
        bool, typer.Option("--llm/--no-llm", help="use the LLM at DXKIT_LLM_BASE_URL")
    ] = False,
    model_dir: Annotated[Path | None, typer.Option("--model", help="saved model directory")] = None,
    top: Annotated[int, typer.Option(help="conditions to list")] = 5,
) -> None:
    """Report one case for people: differential plots, narrative, patient summary, speech."""
    from dxkit.cases.io import read_cases
    from dxkit.deid.cases import deidentify_for_pipeline
    from dxkit.llm.case_report import (
        build_case_report,
        write_case_audio,
        write_case_html,
        write_case_pdf,
    )
    from dxkit.llm.speech import espeak_binary
    from dxkit.llm.texts import check_lang
    from dxkit.models.llm import LLMClient, LLMSettings
    from dxkit.pipeline import load_model_or_default
    from dxkit.report.diagnose import diagnose
    from dxkit.report.html import check_output_file

    language = check_lang(lang)
    outputs = {"--html": html_out, "--pdf": pdf_out, "--audio": audio_out}
    if not any(outputs.values()):
        raise InputError(
            "report output",
            expected="at least one of --html, --pdf, --audio",
            found="none",
            fix="e.g. dxkit report case.json --html report.html",
        )
    for option, target in outputs.items():
        if target is not None:
            check_output_file(target, option)
    if audio_out is not None:
        espeak_binary()  # fail before any work when it is missing
    settings = LLMSettings.from_env() if llm else None
    if llm and settings is None:
        raise InputError(
            "--llm",
            expected="DXKIT_LLM_BASE_URL (and DXKIT_LLM_MODEL, DXKIT_LLM_API_KEY) set",
            found="no endpoint configured",
            fix="set DXKIT_LLM_BASE_URL, or leave out --llm for the template report",
        )
    cases = read_cases(file)
    if len(cases) != 1:
        raise InputError(
            "case file",
            expected="exactly one case",
            found=f"{len(cases)} cases",
            fix="split the file; dxkit report describes one case",
        )
    status = Console(stderr=True)
    clean = deidentify_for_pipeline(cases, console=status)
    model = load_model_or_default(model_dir, console=status)
    answer = diagnose(model, clean, top=top, evidence=min(3, top))[0]
    client = LLMClient(settings) if settings is not None else None
    try:
        built = build_case_report(clean[0], answer, lang=language, client=client)
    finally:
        if client is not None:
            client.close()
    for warning in built.answer.warnings:
        if warning.field == "llm":
            status.print(f"warning: {warning.message}")
    if html_out is not None:
        write_case_html(built, html_out)
        status.print(f"HTML report written to {html_out}")
    if pdf_out is not None:
        write_case_pdf(built, pdf_out)
        status.print(f"PDF report written to {pdf_out}")
    if audio_out is not None:
        write_case_audio(built, audio_out)
        status.print(f"spoken summary written to {audio_out}")


def register(app: typer.Typer) -> None:
    """Add ``dxkit report`` to the dxkit app."""
    app.command("report")(report)
