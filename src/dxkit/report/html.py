"""The evaluation report as ONE self-contained HTML file (``dxkit evaluate --html``).

Why one file with nothing linked: reports are attached to tickets, mailed to reviewers
and opened on machines without network access; inline CSS and base64 PNG figures keep
them complete everywhere, and no external request can leak that a report was opened.

Every number printed comes from the metrics dict of :func:`dxkit.pipeline.evaluate_model`
or from the figures' own data (:mod:`dxkit.report.plots`). The report may quote words of
patient notes in the explanation examples, so it is written like every dxkit output:
atomically and readable by its owner only.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dxkit.cases.schema import LabeledCase
from dxkit.errors import InputError
from dxkit.models.base import DiagnosisModel, atomic_write_text
from dxkit.report.model_card import (
    OVERALL_KEYS,
    SUBGROUP_COLUMNS,
    ModelInfo,
    fmt,
    subgroup_rows,
)
from dxkit.report.plots import CoveragePoint

CONFORMAL_KEYS = ("alpha", "coverage", "mean_set_size", "abstain_rate")
_CSS = """
body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px}
td.num{text-align:right}.worst{background:#fde2e1;font-weight:bold}
.flag{color:#b00020}.disclaimer{background:#fff4ce;padding:.6em;border:1px solid #e0c060}
.tok{padding:1px 2px;border-radius:3px}figcaption{font-size:.85em;color:#555}
"""

__all__ = [
    "ExplainedExample",
    "ReportFigures",
    "check_output_file",
    "compute_figures",
    "explained_examples",
    "render_html",
    "render_note",
    "render_tokens",
    "write_html_report",
]


@dataclass(frozen=True)
class ExplainedExample:
    """One case of the "Example explanations" section; weights > 0 support the answer."""

    case_id: str
    true_label: str
    predicted_label: str
    probability: float
    tokens: list[tuple[str, float]]
    note: str = ""  # the case's notes, shaded in place by the word weights


@dataclass(frozen=True)
class ReportFigures:
    """Inline figures (``data:`` URIs, None when there was nothing to draw) and curve data."""

    n_cases: int
    reliability: str | None = None
    confusion: str | None = None
    coverage: str | None = None
    coverage_points: list[CoveragePoint] = field(default_factory=list)
    has_before: bool = False


def check_output_file(path: Path, option: str) -> None:
    """Fail before any work if ``path`` cannot become a file (a directory, a file parent).

    >>> check_output_file(Path("/"), "--html")
    Traceback (most recent call last):
    ...
    dxkit.errors.InputError: --html: expected a file path; found / is a directory. Fix: add a file name, e.g. /report.html
    """  # noqa: E501
    if path.is_dir():
        raise InputError(
            option,
            expected="a file path",
            found=f"{path} is a directory",
            fix=f"add a file name, e.g. {path / 'report.html'}",
        )
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(
            option,
            expected="a path whose parent directory exists or can be created",
            found=f"{parent} is a file",
            fix="choose another output path",
        )


def compute_figures(model: DiagnosisModel, labeled: Sequence[LabeledCase]) -> ReportFigures:
    """Predict once on the valid cases and draw the reliability, confusion, coverage plots.

    For a calibrated model the inner model's raw probabilities are kept too, so the
    reliability diagram shows the curve before and after temperature scaling.
    """
    from dxkit.calibrate.temperature import apply_temperature
    from dxkit.pipeline import keep_valid
    from dxkit.report.plots import (
        confusion_plot,
        coverage_curve,
        coverage_plot,
        most_confused,
        reliability_plot,
    )

    kept, _ = keep_valid(labeled)
    if not kept:
        return ReportFigures(0)
    cases = [lc.case for lc in kept]
    inner, temperature = getattr(model, "inner", None), getattr(model, "temperature", None)
    before = None
    if inner is not None and temperature is not None:
        before = np.asarray(inner.predict_proba(cases), dtype=np.float64)  # (n, c)
        proba = apply_temperature(before, float(temperature))
    else:
        proba = np.asarray(model.predict_proba(cases), dtype=np.float64)
    index = {label: i for i, label in enumerate(model.labels)}
    y = np.array([index.get(lc.label, -1) for lc in kept], dtype=np.int64)
    names, matrix = most_confused(y, proba.argmax(axis=1), list(model.labels), top=10)
    conformal = getattr(model, "conformal", None)
    points = coverage_curve(
        proba,
        y,
        lam=float(getattr(conformal, "lam", 0.0)),
        k_reg=int(getattr(conformal, "k_reg", 0)),
    )
    return ReportFigures(
        n_cases=len(kept),
        reliability=reliability_plot(y, proba, before),
        confusion=confusion_plot(names, matrix),
        coverage=coverage_plot(points) if points else None,
        coverage_points=points,
        has_before=before is not None,
    )


def explained_examples(
    model: DiagnosisModel, labeled: Sequence[LabeledCase], n: int = 3
) -> list[ExplainedExample]:
    """Evidence for the top answer of the first ``n`` valid cases with notes.

    The one place that wires the explain stage (:func:`dxkit.explain.explain_case`) into
    the report: the strongest supporting then opposing words and facts per case. It
    returns no examples when that stage is not installed, and the report then says so.
    """
    try:
        from dxkit.explain import explain_case
    except ImportError:
        return []
    from dxkit.pipeline import keep_valid

    out: list[ExplainedExample] = []
    for lc in [lc for lc in keep_valid(labeled)[0] if lc.case.notes.strip()][:n]:
        row = np.asarray(model.predict_proba([lc.case]))[0]  # (n_labels,)
        label = model.labels[int(row.argmax())]
        evidence = explain_case(model, lc.case, [label], top=5)[label]
        tokens = [(i.feature, i.weight) for i in [*evidence.supporting, *evidence.opposing]]
        out.append(
            ExplainedExample(
                lc.case.case_id, lc.label, label, float(row.max()), tokens, lc.case.notes
            )
        )
    return out


def render_tokens(tokens: Sequence[tuple[str, float]]) -> str:
    """Tokens as ``<span>``s shaded by weight: green supports, red opposes; escaped.

    >>> render_tokens([("fever", 0.5), ("<b>", -0.25)])  # doctest: +NORMALIZE_WHITESPACE
    '<span class="tok" style="background:rgba(0,160,0,1.00)" title="+0.5000">fever</span>
    <span class="tok" style="background:rgba(200,0,0,0.50)" title="-0.2500">&lt;b&gt;</span>'
    """
    scale = max((abs(w) for _, w in tokens), default=0.0) or 1.0
    spans = []
    for word, weight in tokens:
        colour = "0,160,0" if weight >= 0 else "200,0,0"
        spans.append(
            f'<span class="tok" style="background:rgba({colour},{abs(weight) / scale:.2f})" '
            f'title="{weight:+.4f}">{html.escape(word)}</span>'
        )
    return " ".join(spans)


def _rows(pairs: Sequence[tuple[str, str]]) -> str:
    return "".join(
        f"<tr><th>{html.escape(k)}</th><td class='num'>{html.escape(v)}</td></tr>" for k, v in pairs
    )


def _subgroups_html(metrics: Mapping[str, Any]) -> str:
    rows = subgroup_rows(metrics)
    if not rows:
        return "<p>No subgroup results (the evaluation data has no sex or age).</p>"
    keys = [k for k in SUBGROUP_COLUMNS if any(k in r.values for r in rows)]
    head = "<th>attribute</th><th>group</th><th>n</th>"
    head += "".join(f"<th>{html.escape(SUBGROUP_COLUMNS[k][0])}</th>" for k in keys)
    body = ""
    for r in rows:
        flag = " <span class='flag'>under-covered</span>" if r.under_covered else ""
        cells = "".join(
            f"<td class='num{' worst' if k in r.worst else ''}'>{fmt(r.values.get(k))}</td>"
            for k in keys
        )
        body += (
            f"<tr><td>{html.escape(r.attribute)}</td><td>{html.escape(r.group)}{flag}</td>"
            f"<td class='num'>{r.n}</td>{cells}</tr>"
        )
    return (
        f"<table><tr>{head}</tr>{body}</table><p>Highlighted: the worse end of the largest "
        "gap per metric (groups of at least 10 cases). Under-covered: conformal coverage "
        "below 1 - alpha - 0.03.</p>"
    )


def _figure(uri: str | None, alt: str, caption: str) -> str:
    if uri is None:
        return f"<p>No {html.escape(alt)} (no cases to draw).</p>"
    img = f'<img src="{uri}" alt="{html.escape(alt)}">'
    return f"<figure>{img}<figcaption>{caption}</figcaption></figure>"


def render_note(note: str, tokens: Sequence[tuple[str, float]]) -> str:
    """The whole note with each word that carries evidence shaded by its weight; escaped.

    Words are matched case-insensitively without surrounding punctuation, so the reader
    sees the evidence where it stands in the note rather than as a detached list.

    >>> render_note("Fever, no rash.", [("fever", 0.5), ("rash", -0.5)])  # doctest: +ELLIPSIS
    '<span ...>Fever,</span> no <span class="tok" style="background:rgba(200,0,0,1.00)"...'
    """
    weights = {word.lower(): weight for word, weight in tokens}
    scale = max((abs(w) for w in weights.values()), default=0.0) or 1.0
    out = []
    for piece in note.split():
        weight = weights.get(piece.strip(".,;:!?()[]\"'").lower())
        if weight is None:
            out.append(html.escape(piece))
            continue
        colour = "0,160,0" if weight >= 0 else "200,0,0"
        out.append(
            f'<span class="tok" style="background:rgba({colour},{abs(weight) / scale:.2f})" '
            f'title="{weight:+.4f}">{html.escape(piece)}</span>'
        )
    return " ".join(out)


def _examples_html(examples: Sequence[ExplainedExample]) -> str:
    if not examples:
        return "<p>No explanations: the explanation stage is not available in this install.</p>"
    parts = []
    for ex in examples:
        parts.append(
            f"<h3>Case {html.escape(ex.case_id)}</h3><p>true: {html.escape(ex.true_label)}; "
            f"predicted: {html.escape(ex.predicted_label)} ({ex.probability:.3f})</p>"
            + (f"<p class='note'>{render_note(ex.note, ex.tokens)}</p>" if ex.note else "")
            + f"<p>Strongest evidence: {render_tokens(ex.tokens) or 'no attributions'}</p>"
        )
    return "".join(parts)


def render_html(
    info: ModelInfo,
    metrics: Mapping[str, Any],
    figures: ReportFigures,
    examples: Sequence[ExplainedExample],
    data_name: str,
) -> str:
    """The whole report as one HTML document."""
    from dxkit.report.differential import DISCLAIMER

    model_rows = [("kind", info.kind), ("dxkit version", info.dxkit_version),
                  ("labels", str(info.n_labels)), ("temperature", fmt(info.temperature)),
                  ("alpha", fmt(info.alpha))]  # fmt: skip
    keys = [*OVERALL_KEYS, *CONFORMAL_KEYS]
    metric_rows = [(k, fmt(metrics[k])) for k in keys if k in metrics]
    metric_rows += [(f"{k} (calibration set)", fmt(metrics[k]))
                    for k in ("ece_before", "nll_before") if k in metrics]  # fmt: skip
    before = " Orange: before temperature scaling; blue: after." if figures.has_before else ""
    curve = "".join(
        f"<tr><td class='num'>{p.alpha:g}</td><td class='num'>{fmt(p.coverage)}</td>"
        f"<td class='num'>{fmt(p.mean_set_size)}</td></tr>"
        for p in figures.coverage_points
    )
    n_fit = figures.coverage_points[0].n_fit if figures.coverage_points else 0
    n_test = figures.coverage_points[0].n_test if figures.coverage_points else 0
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>dxkit evaluation: {
        html.escape(info.kind)
    }</title>
<style>{_CSS}</style></head><body>
<h1>dxkit evaluation report</h1>
<p class="disclaimer">{html.escape(DISCLAIMER)}</p>
<h2>Model</h2><table>{_rows(model_rows)}</table>
<h2>Metrics</h2><p>On {html.escape(data_name)} ({figures.n_cases} valid cases).</p>
<table>{_rows(metric_rows)}</table>
<h2>Reliability diagram</h2>
{
        _figure(
            figures.reliability,
            "reliability diagram",
            f"15 equal-width confidence bins; dashed: perfect calibration.{before} "
            f"ECE {fmt(metrics.get('ece'))}.",
        )
    }
<h2>Confusion matrix</h2>
{
        _figure(
            figures.confusion,
            "confusion matrix",
            "Restricted to the 10 conditions involved in the most errors (rows: true).",
        )
    }
<h2>Coverage vs set size</h2>
{
        _figure(
            figures.coverage,
            "coverage curve",
            f"For each alpha a fresh split-conformal predictor was fitted on a random half of "
            f"the evaluation cases ({n_fit} with known labels) and measured on the other half "
            f"({n_test}); the model's stored thresholds are not used here.",
        )
    }
<table><tr><th>alpha</th><th>coverage</th><th>mean set size</th></tr>{curve}</table>
<h2>Subgroups</h2>{_subgroups_html(metrics)}
<h2>Example explanations</h2>{_examples_html(examples)}
<p class="disclaimer">{html.escape(DISCLAIMER)}</p>
</body></html>
"""


def write_html_report(
    path: Path,
    info: ModelInfo,
    metrics: Mapping[str, Any],
    figures: ReportFigures,
    examples: Sequence[ExplainedExample],
    data_name: str,
) -> None:
    """Render and write the report atomically (owner-readable only, never half written)."""
    atomic_write_text(Path(path), render_html(info, metrics, figures, examples, data_name))
