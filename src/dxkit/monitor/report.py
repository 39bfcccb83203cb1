"""The monitoring report: one self-contained HTML file with inline PNG figures.

Built from the same pieces as the evaluation report (its stylesheet, tables and figure
markup, and the PNG helpers of :mod:`dxkit.report.plots`), so both read alike.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from dxkit.models.base import atomic_write_text
from dxkit.monitor.drift import MonitorResult, Thresholds
from dxkit.report.html import _CSS, _figure, _rows
from dxkit.report.model_card import fmt
from dxkit.report.plots import _figure as new_figure
from dxkit.report.plots import _to_uri

TOP_CONDITIONS = 12  # bars in the condition-mix figure


def psi_plot(feature_psi: Mapping[str, float], condition_psi: float, limit: float) -> str:
    """Horizontal bars of PSI per feature and for the condition mix, with the threshold."""
    names = [*feature_psi, "predicted conditions"]
    values = [*feature_psi.values(), condition_psi]
    fig = new_figure(7.0, 0.25 * len(names) + 1.2)
    ax = fig.subplots()
    colours = ["tab:red" if v > limit else "tab:blue" for v in values]
    ax.barh(range(len(names)), values, color=colours)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.axvline(limit, color="grey", linestyle="--")
    ax.invert_yaxis()
    ax.set_xlabel("population stability index")
    return _to_uri(fig)


def mix_plot(reference: Mapping[str, float], live: Mapping[str, float]) -> str:
    """Reference vs live share of the most frequent predicted conditions."""
    keys = sorted(
        set(reference) | set(live), key=lambda k: -max(reference.get(k, 0), live.get(k, 0))
    )
    keys = keys[:TOP_CONDITIONS]
    fig = new_figure(7.0, 0.3 * len(keys) + 1.2)
    ax = fig.subplots()
    y = np.arange(len(keys))
    ax.barh(y - 0.2, [reference.get(k, 0) for k in keys], 0.4, label="reference")
    ax.barh(y + 0.2, [live.get(k, 0) for k in keys], 0.4, label="live")
    ax.set_yticks(y, keys, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("share of answers (top condition)")
    ax.legend()
    return _to_uri(fig)


def feedback_reliability_plot(confidences: list[float], verdicts: list[bool]) -> str | None:
    """Accuracy against stated confidence of the judged answers (10 bins)."""
    if not confidences:
        return None
    conf, hit = np.asarray(confidences), np.asarray(verdicts, dtype=float)
    bins = np.clip(np.ceil(conf * 10).astype(int) - 1, 0, 9)
    used = np.unique(bins)
    fig = new_figure(5.0, 4.5)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
    ax.plot([conf[bins == b].mean() for b in used], [hit[bins == b].mean() for b in used], "o-")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("stated probability of the top condition")
    ax.set_ylabel("share confirmed by clinicians")
    return _to_uri(fig)


def render_monitor_html(result: MonitorResult, thresholds: Thresholds, window: str) -> str:
    """The whole report as one HTML document."""
    ref = result.reference
    rows = [
        ("answers", str(result.n_answers)),
        ("verdicts", str(result.n_feedback)),
        ("live top-1 accuracy", fmt(result.live_accuracy)),
        ("reference top-1 accuracy", fmt(ref.top1)),
        ("live ECE", fmt(result.live_ece)),
        ("reference ECE", fmt(ref.ece)),
        ("abstention rate", fmt(result.abstain_rate)),
        ("reference abstention rate", fmt(ref.abstain_rate)),
        ("PSI predicted conditions", fmt(result.condition_psi)),
    ]
    alerts = "".join(f"<li class='flag'>{html.escape(a)}</li>" for a in result.alerts)
    status = f"<ul>{alerts}</ul>" if alerts else "<p>No threshold crossed.</p>"
    psi_rows = _rows([(k, fmt(v)) for k, v in result.feature_psi.items()])
    reliability = feedback_reliability_plot(result.confidences, result.verdicts)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>dxkit monitoring</title>
<style>{_CSS}</style></head><body>
<h1>dxkit monitoring report</h1>
<p>{html.escape(window)}; reference: {ref.n} training cases.</p>
<h2>Status</h2>{status}
<h2>Live performance</h2><table>{_rows(rows)}</table>
<h2>Input drift</h2>
{
        _figure(
            psi_plot(result.feature_psi, result.condition_psi, thresholds.psi),
            "PSI chart",
            f"Population stability index; dashed: the alert threshold {thresholds.psi}.",
        )
    }
<table>{psi_rows}</table>
<h2>Predicted-condition mix</h2>
{
        _figure(
            mix_plot(ref.conditions, result.live_conditions),
            "condition mix",
            f"The {TOP_CONDITIONS} most frequent top conditions, reference vs live.",
        )
    }
<h2>Calibration from clinician feedback</h2>
{
        _figure(
            reliability,
            "reliability from feedback",
            "Judged answers in 10 confidence bins; dashed: perfect calibration.",
        )
    }
</body></html>
"""


def write_monitor_html(
    path: Path, result: MonitorResult, thresholds: Thresholds, window: str
) -> None:
    """Write the report atomically."""
    atomic_write_text(Path(path), render_monitor_html(result, thresholds, window))
