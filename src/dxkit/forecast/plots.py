"""Figures of the forecast report, returned as inline ``data:`` PNG URIs.

Reuses the bare-:class:`~matplotlib.figure.Figure` helpers of :mod:`dxkit.report.plots`
(no GUI backend, pyplot's global state untouched) so both reports look and behave
alike. The numbers behind the alert-burden and calibration figures come from pure
functions, so tests check them without decoding images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from dxkit.forecast.series import TimeSeriesRecord
from dxkit.report.plots import _figure, _to_uri

TIMELINE_SIGNALS = ("heart_rate", "resp_rate", "sbp_ni", "sbp_art", "spo2", "temperature")
_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:olive")


def _finite(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = np.isfinite(score)
    return y[ok], score[ok]


def roc_plot(y: np.ndarray, scores: Mapping[str, np.ndarray]) -> str:
    """ROC curves of every model and clinical score (stays without a score left out)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig = _figure(5.0, 4.5)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    for name, score in scores.items():
        yy, s = _finite(y, score)
        if not 0 < yy.sum() < yy.size:
            continue
        fpr, tpr, _ = roc_curve(yy, s)
        ax.plot(fpr, tpr, label=f"{name} (AUROC {roc_auc_score(yy, s):.3f})")
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title("ROC: in-hospital death")
    ax.legend(loc="lower right", fontsize=8)
    return _to_uri(fig)


def pr_plot(y: np.ndarray, scores: Mapping[str, np.ndarray]) -> str:
    """Precision-recall curves, with the prevalence as the chance line."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig = _figure(5.0, 4.5)
    ax = fig.subplots()
    ax.axhline(float(y.mean()), linestyle="--", color="grey", label="prevalence")
    for name, score in scores.items():
        yy, s = _finite(y, score)
        if yy.sum() == 0:
            continue
        precision, recall, _ = precision_recall_curve(yy, s)
        ax.plot(recall, precision, label=f"{name} (AUPRC {average_precision_score(yy, s):.3f})")
    ax.set_xlabel("recall (sensitivity)")
    ax.set_ylabel("precision (PPV)")
    ax.set_ylim(0, 1.02)
    ax.set_title("Precision-recall")
    ax.legend(loc="upper right", fontsize=8)
    return _to_uri(fig)


def calibration_bins(
    y: np.ndarray, risk: np.ndarray, n_bins: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean risk, observed death rate and count per equal-width bin (empty bins dropped).

    >>> m, o, c = calibration_bins(np.array([0, 1, 1]), np.array([0.05, 0.95, 0.9]))
    >>> m.round(3).tolist(), o.tolist(), c.tolist()
    ([0.05, 0.925], [0.0, 1.0], [1, 2])
    """
    idx = np.minimum((risk * n_bins).astype(int), n_bins - 1)
    bins = np.unique(idx)
    mean = np.array([risk[idx == b].mean() for b in bins])
    observed = np.array([y[idx == b].mean() for b in bins])
    count = np.array([int((idx == b).sum()) for b in bins])
    return mean, observed, count


def calibration_plot(y: np.ndarray, risks: Mapping[str, np.ndarray], n_bins: int = 10) -> str:
    """Observed death rate against stated risk per bin (the ECE's bins), per model."""
    fig = _figure(5.0, 4.5)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    for name, risk in risks.items():
        mean, observed, count = calibration_bins(y, risk, n_bins)
        ax.plot(mean, observed, marker="o", label=name)
        for m, o, c in zip(mean, observed, count, strict=True):
            ax.annotate(str(c), (m, o), fontsize=6, textcoords="offset points", xytext=(3, -8))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted risk")
    ax.set_ylabel("observed death rate")
    ax.set_title(f"Calibration ({n_bins} bins; numbers: stays per bin)")
    ax.legend(loc="upper left", fontsize=8)
    return _to_uri(fig)


def alert_burden_curve(y: np.ndarray, risk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sensitivity and alerts per 100 patients for every threshold ``risk >= t``.

    >>> s, a = alert_burden_curve(np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.6, 0.7]))
    >>> s.tolist(), a.tolist()
    ([0.5, 0.5, 1.0, 1.0], [25.0, 50.0, 75.0, 100.0])
    """
    order = np.argsort(-risk, kind="stable")
    hits = np.cumsum(y[order])  # deaths caught when alerting on the top k
    k = np.arange(1, y.size + 1)
    keep = np.append(risk[order][1:] != risk[order][:-1], True)  # ties alert together
    sens = hits / max(float(y.sum()), 1.0)
    return sens[keep], (k * 100.0 / y.size)[keep]


def alert_burden_plot(
    y: np.ndarray, risks: Mapping[str, np.ndarray], marked: float | None = None
) -> str:
    """Alerts per 100 patients needed for each sensitivity; ``marked``: the chosen policy."""
    fig = _figure(5.0, 4.5)
    ax = fig.subplots()
    for name, risk in risks.items():
        yy, r = _finite(y, risk)
        sens, burden = alert_burden_curve(yy, r)
        ax.plot(sens, burden, label=name)
    if marked is not None:
        ax.axvline(marked, linestyle=":", color="tab:red", label=f"policy target {marked:.0%}")
    ax.set_xlabel("sensitivity (deaths alerted)")
    ax.set_ylabel("alerts per 100 patients")
    ax.set_title("Alert burden")
    ax.legend(loc="upper left", fontsize=8)
    return _to_uri(fig)


def artefact_count(record: TimeSeriesRecord, hours: float) -> int:
    """Readings up to ``hours`` masked as artefacts (shown, never used)."""
    return sum(int((~s.usable & (s.times <= hours)).sum()) for s in record.signals.values())


def timeline_plot(
    record: TimeSeriesRecord,
    risk: np.ndarray,
    *,
    threshold: float | None = None,
    signals: Sequence[str] = TIMELINE_SIGNALS,
    title: str = "",
) -> str:
    """Vital signs over time (artefacts as red crosses) with the risk-now curve over them.

    ``risk[t]`` is the risk at the end of hour ``t + 1``, drawn on a second axis.
    """
    hours = risk.size
    fig = _figure(8.0, 3.6)
    ax = fig.subplots()
    for key, colour in zip([s for s in signals if s in record.signals], _COLOURS, strict=False):
        series = record.signals[key]
        inside = series.times <= hours
        ok, bad = inside & series.usable, inside & ~series.usable
        ax.plot(series.times[ok], series.values[ok], marker=".", color=colour, label=key)
        if bad.any():
            ax.scatter(series.times[bad], series.values[bad], marker="x", color="tab:red", zorder=3)
    artefacts = artefact_count(record, hours)
    ax.set_xlabel("hours since admission")
    ax.set_ylabel("vital signs (canonical units)")
    ax.set_xlim(0, hours)
    twin = ax.twinx()
    twin.plot(np.arange(1, hours + 1), risk, color="black", linewidth=2, label="risk now")
    if threshold is not None:
        twin.axhline(threshold, color="tab:red", linestyle="--", linewidth=1, label="alert")
    twin.set_ylim(0, 1)
    twin.set_ylabel("risk of in-hospital death")
    ax.set_title(f"{title} ({artefacts} artefact(s) marked x, not used)")
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + twin.get_legend_handles_labels()[1]
    ax.legend(handles, labels, loc="upper left", fontsize=7, ncol=4)
    return _to_uri(fig)
