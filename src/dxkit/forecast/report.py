"""The forecast evaluation report as ONE self-contained HTML file.

Why one file with inline figures: like the diagnosis report (:mod:`dxkit.report.html`)
it is mailed, attached to tickets and opened offline. It answers the questions asked
before a forecaster goes near a ward: does it beat the scores in use (NEWS2, SAPS-I,
SOFA: ROC and precision-recall), are its risks honest (calibration), how many alerts
would staff see for a sensitivity (alert burden), and what does it do for one patient
over time (timelines with artefacts marked). Record ids appear; no free text does.
The file is written atomically and readable by its owner only.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dxkit.forecast.metrics import AlertPolicy, auprc, auroc, risk_metrics
from dxkit.forecast.series import TimeSeriesRecord
from dxkit.models.base import atomic_write_text

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px}
td.num{text-align:right}figcaption{font-size:.85em;color:#555}
.disclaimer{background:#fff4ce;padding:.6em;border:1px solid #e0c060}
"""


@dataclass(frozen=True)
class PatientTimeline:
    """One stay for the timeline section: its record, hourly risk and outcome if known."""

    record: TimeSeriesRecord
    risk: np.ndarray
    outcome: int | None = None


def score_columns(
    records: Sequence[TimeSeriesRecord], outcome_rows: Sequence[Any], hours: int
) -> dict[str, np.ndarray]:
    """The clinical comparators per stay: worst NEWS2 up to ``hours``, SAPS-I, SOFA.

    ``outcome_rows`` are :class:`~dxkit.forecast.physionet.Outcome` rows (``saps``,
    ``sofa``); NaN marks a stay without the score.
    """
    from dxkit.forecast.scores import news2_series

    at = np.arange(1, hours + 1, dtype=float)
    worst = []
    for record in records:
        series = news2_series(record, at)
        worst.append(float(np.nanmax(series)) if np.isfinite(series).any() else np.nan)
    return {
        f"NEWS2 (worst, {hours} h)": np.array(worst),
        "SAPS-I": np.array([float(o.saps) for o in outcome_rows]),
        "SOFA": np.array([float(o.sofa) for o in outcome_rows]),
    }


def _fmt(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.3f}"


def _metrics_table(
    y: np.ndarray, risks: Mapping[str, np.ndarray], scores: Mapping[str, np.ndarray]
) -> str:
    rows = []
    for name, risk in risks.items():
        m = risk_metrics(y, risk)
        cells = [m["auroc"], m["auprc"], m["brier"], m["ece"]]
        rows.append((name, int(m["n"]), cells))
    for name, score in scores.items():
        ok = np.isfinite(score)
        if not 0 < y[ok].sum() < ok.sum():
            continue
        rows.append((name, int(ok.sum()), [auroc(y[ok], score[ok]), auprc(y[ok], score[ok])]))
    body = "".join(
        f"<tr><td>{html.escape(name)}</td><td class='num'>{n}</td>"
        + "".join(f"<td class='num'>{_fmt(v)}</td>" for v in cells)
        + "<td class='num'>-</td>" * (4 - len(cells))
        + "</tr>"
        for name, n, cells in rows
    )
    head = "".join(f"<th>{h}</th>" for h in ("", "n", "AUROC", "AUPRC", "Brier", "ECE"))
    return (
        f"<table><tr>{head}</tr>{body}</table><p>Scores are not probabilities, so Brier "
        "and ECE are given for the models only.</p>"
    )


def _figure(uri: str, alt: str, caption: str) -> str:
    return (
        f'<figure><img src="{uri}" alt="{html.escape(alt)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def render_forecast_report(
    *,
    y: np.ndarray,
    risks: Mapping[str, np.ndarray],
    scores: Mapping[str, np.ndarray],
    timelines: Sequence[PatientTimeline],
    hours: int,
    alert: AlertPolicy | None = None,
    data_name: str = "",
    warnings: Mapping[str, int] | None = None,
) -> str:
    """The whole report as one HTML document (see :func:`write_forecast_report`)."""
    from dxkit.forecast.plots import (
        alert_burden_plot,
        artefact_count,
        calibration_plot,
        pr_plot,
        roc_plot,
        timeline_plot,
    )
    from dxkit.report.differential import DISCLAIMER

    y = np.asarray(y, dtype=int)
    both = {**risks, **scores}
    threshold = alert.threshold if alert else None
    figures = [
        _figure(roc_plot(y, both), "ROC curves", "Models against the clinical scores."),
        _figure(pr_plot(y, both), "precision-recall curves", "Dashed: prevalence."),
        _figure(calibration_plot(y, risks), "calibration plot", "Diagonal: perfect."),
        _figure(
            alert_burden_plot(y, risks, alert.target_sensitivity if alert else None),
            "alert burden curve",
            "Alerts per 100 patients needed to reach each sensitivity.",
        ),
    ]
    for item in timelines:
        label = "" if item.outcome is None else ("died" if item.outcome else "survived")
        title = f"record {item.record.record_id} {label}".strip()
        uri = timeline_plot(item.record, item.risk, threshold=threshold, title=title)
        marked = artefact_count(item.record, item.risk.size)
        caption = f"{title}: vital signs, risk now (black); {marked} artefact(s) marked x."
        figures.append(_figure(uri, f"timeline {item.record.record_id}", caption))
    policy = html.escape(alert.describe()) if alert else "no alert policy stored"
    quality = ", ".join(f"{html.escape(k)} {v}" for k, v in (warnings or {}).items()) or "none"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>dxkit forecast report</title>
<style>{_CSS}</style></head><body>
<h1>Deterioration forecast: in-hospital death at {hours} h</h1>
<p>Data: {html.escape(data_name)}; {y.size} stays, {int(y.sum())} deaths.</p>
<h2>Discrimination and calibration</h2>{_metrics_table(y, risks, scores)}
<p>Alert policy: {policy}.</p><p>Data-quality warnings: {quality}.</p>
<h2>Figures</h2>{"".join(figures[:4])}
<h2>Patient timelines</h2>{"".join(figures[4:]) or "<p>No timelines requested.</p>"}
<p class="disclaimer">{html.escape(DISCLAIMER)}</p>
</body></html>
"""


def write_forecast_report(path: Path, **content: Any) -> None:
    """Render (:func:`render_forecast_report` keywords) and write atomically, mode 0600."""
    atomic_write_text(Path(path), render_forecast_report(**content))


def pick_timelines(
    records: Sequence[TimeSeriesRecord], y: np.ndarray, risk: np.ndarray, n: int
) -> list[int]:
    """Indices of ``n`` instructive stays: highest-risk deaths and survivors alternately."""
    order = np.argsort(-risk, kind="stable")
    deaths = [int(i) for i in order if y[i] == 1]
    alive = [int(i) for i in order if y[i] == 0]
    picked: list[int] = []
    while len(picked) < min(n, len(records)) and (deaths or alive):
        for pool in (deaths, alive):
            if pool and len(picked) < n:
                picked.append(pool.pop(0))
    return picked


def report_for_model(
    path: Path,
    model_dir: Path,
    data: Path,
    outcomes: Path,
    *,
    limit: int | None = None,
    patients: int = 4,
) -> None:
    """Evaluate a saved forecaster on labelled data and write the HTML report to ``path``.

    What ``dxkit forecast evaluate ... --html OUT.html`` calls.

    Raises:
        InputError: ``path`` is a directory, or no record has an outcome.
        DataNotFoundError: data or outcomes are missing.
    """
    from dxkit.forecast.base import load_forecaster
    from dxkit.forecast.physionet import load_physionet, read_outcomes
    from dxkit.forecast.workflow import warning_counts, with_outcomes
    from dxkit.report.html import check_output_file

    check_output_file(Path(path), "--html")
    model = load_forecaster(model_dir)
    records, y, rows = with_outcomes(load_physionet(data, limit=limit), read_outcomes(outcomes))
    risk = model.predict_proba(records)
    timelines = [
        PatientTimeline(records[i], model.risk_curve(records[i]), int(y[i]))
        for i in pick_timelines(records, y, risk, patients)
    ]
    name = f"{type(model).__name__} {getattr(model, 'model_id', '')}".strip()
    write_forecast_report(
        path,
        y=y,
        risks={name: risk},
        scores=score_columns(records, rows, model.hours),
        timelines=timelines,
        hours=model.hours,
        alert=model.alert,
        data_name=Path(data).name,
        warnings=warning_counts(records),
    )
