"""One case, three forms people take in: an HTML page, a PDF, and speech.

The report is built once (:func:`build_case_report`) from the de-identified case and its
differential - with the LLM's re-ranking, narrative and summary when a client is given,
from templates otherwise - and then rendered. HTML is one self-contained file (inline
CSS, base64 figures); the PDF comes from matplotlib's PdfPages (no extra dependency); the
WAV from espeak-ng. All are written atomically and owner-readable only.
"""

from __future__ import annotations

import base64
import html
import io
import textwrap
from dataclasses import dataclass
from pathlib import Path

from dxkit.cases.schema import Case
from dxkit.llm.assist import AssistResult, assist_differential
from dxkit.llm.case_plots import (
    differential_figure,
    evidence_figure,
    font_context,
    new_figure,
    png,
    vitals_figure,
)
from dxkit.llm.narrative import Narrative, PatientSummary, clinician_narrative, patient_summary
from dxkit.llm.speech import synthesize
from dxkit.llm.texts import Lang
from dxkit.models.base import atomic_write_bytes, atomic_write_text
from dxkit.models.llm import LLMClient
from dxkit.report.differential import Differential

_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:900px;margin:2em auto;color:#222}"
    ".safety{background:#fff4ce;padding:.6em;border:1px solid #e0c060}"
    ".warn{color:#8a5300}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:2px 8px}"
)


@dataclass(frozen=True)
class CaseReport:
    """Everything a one-case report shows; the case is the de-identified one."""

    case: Case
    answer: Differential
    summary: PatientSummary
    narrative: Narrative
    assist: AssistResult


def build_case_report(
    case: Case, answer: Differential, *, lang: Lang = "en", client: LLMClient | None = None
) -> CaseReport:
    """Assist, narrate and summarise one de-identified case (LLM optional)."""
    assist = assist_differential(case, answer, client)
    final = assist.differential
    return CaseReport(
        case=case,
        answer=final,
        summary=patient_summary(case, final, lang, client),
        narrative=clinician_narrative(case, final, client),
        assist=assist,
    )


def _figures(report: CaseReport) -> list[tuple[str, bytes]]:
    drawn = [
        ("Differential", differential_figure(report.answer)),
        ("Evidence", evidence_figure(report.answer)),
        ("Vital signs", vitals_figure(report.case)),
    ]
    return [(title, png(fig)) for title, fig in drawn if fig is not None]


def render_case_html(report: CaseReport) -> str:
    """The report as one self-contained HTML page (every text escaped)."""
    e = html.escape
    answer = report.answer
    with font_context():
        figures = _figures(report)
    rows = "".join(
        f"<tr><td>{e(c.name)}</td><td>{e(c.icd10 or '-')}</td><td>{c.probability:.3f}</td>"
        f"<td>{'yes' if c.name in answer.prediction_set else ''}</td></tr>"
        for c in answer.conditions
    )
    images = "".join(
        f'<figure><img alt="{e(title)}" src="data:image/png;base64,'
        f'{base64.b64encode(data).decode("ascii")}"><figcaption>{e(title)}</figcaption></figure>'
        for title, data in figures
    )
    questions = "".join(f"<li>{e(q)}</li>" for q in report.assist.questions)
    warnings = [w.message for w in answer.warnings] + report.narrative.warnings
    warnings += report.summary.warnings
    return (
        f'<!doctype html><html lang="{report.summary.lang}"><head><meta charset="utf-8">'
        f"<title>dxkit report {e(answer.case_id)}</title><style>{_CSS}</style></head><body>"
        f"<h1>Case {e(answer.case_id)}</h1>"
        f"<p>Triage: <b>{e(answer.triage.level.value)}</b> - {e(answer.triage.reason)}</p>"
        f'<div class="safety">{"<br>".join(e(s) for s in report.summary.safety)}</div>'
        f"<h2>Summary for the patient</h2><p>{e(' '.join(report.summary.sentences))}</p>"
        f"<h2>Clinician narrative ({report.narrative.source})</h2>"
        f"<p>{e(' '.join(report.narrative.sentences))}</p>"
        "<h2>Differential</h2><table><tr><th>condition</th><th>ICD-10</th>"
        f"<th>probability</th><th>in set</th></tr>{rows}</table>{images}"
        + (f"<h2>Follow-up questions</h2><ul>{questions}</ul>" if questions else "")
        + "".join(f'<p class="warn">warning: {e(w)}</p>' for w in warnings)
        + f"<p><small>{e(answer.disclaimer)}</small></p></body></html>"
    )


def write_case_html(report: CaseReport, path: Path) -> None:
    """Write the HTML page atomically."""
    atomic_write_text(path, render_case_html(report))


def write_case_pdf(report: CaseReport, path: Path) -> None:
    """A PDF: one text page (safety, summary, narrative), then one page per figure."""
    from matplotlib.backends.backend_pdf import PdfPages

    width = 45 if report.summary.lang == "zh" else 90
    blocks = [
        f"Case {report.answer.case_id} - triage: {report.answer.triage.level.value}",
        *report.summary.safety,
        "",
        " ".join(report.summary.sentences),
        "",
        "Clinician narrative:",
        " ".join(report.narrative.sentences),
    ]
    lines = [line for block in blocks for line in (textwrap.wrap(block, width) or [""])]
    buf = io.BytesIO()
    with font_context(), PdfPages(buf) as pdf:
        page = new_figure(8.27, 11.69)  # A4, inches
        page.text(0.06, 0.96, "\n".join(lines[:60]), va="top", fontsize=9, wrap=False)
        pdf.savefig(page)
        for fig in (
            differential_figure(report.answer),
            evidence_figure(report.answer),
            vitals_figure(report.case),
        ):
            if fig is not None:
                pdf.savefig(fig)
    atomic_write_bytes(path, buf.getvalue())


def write_case_audio(report: CaseReport, path: Path) -> None:
    """The patient summary and its safety wording, spoken in the summary's language."""
    synthesize(report.summary.text, report.summary.lang, path)
