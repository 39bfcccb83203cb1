"""Figures of a one-case report: the differential, its evidence, vital-sign trends.

Each returns PNG bytes from a bare :class:`matplotlib.figure.Figure` (no GUI backend, no
pyplot state), so the HTML report can inline them and the PDF can reuse the figures.
Chinese labels need a CJK font; the first one matplotlib finds is used when present.
"""

from __future__ import annotations

import io
from collections import defaultdict
from contextlib import AbstractContextManager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from dxkit.cases.schema import Case
from dxkit.quality.catalogue import catalogue_by_loinc
from dxkit.report.differential import Differential

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_CJK_FILES = ("wqy", "notosanscjk", "notosanssc", "simhei")
_CJK_FONTS = ("WenQuanYi Zen Hei", "Noto Sans CJK SC", "Noto Sans SC", "SimHei")


@cache
def cjk_fonts() -> tuple[str, ...]:
    """Installed CJK font families; system files missing from a stale font cache are added."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    if not installed.intersection(_CJK_FONTS):
        for path in font_manager.findSystemFonts():
            if any(tag in Path(path).name.lower() for tag in _CJK_FILES):
                font_manager.fontManager.addfont(path)
        installed = {f.name for f in font_manager.fontManager.ttflist}
    return tuple(name for name in _CJK_FONTS if name in installed)


def font_context() -> AbstractContextManager[None]:
    """Matplotlib settings preferring an installed CJK font (draw and save inside it)."""
    from matplotlib import rc_context, rcParams

    cjk = list(cjk_fonts())
    context: AbstractContextManager[None] = rc_context(
        {"font.sans-serif": [*cjk, *rcParams["font.sans-serif"]], "axes.unicode_minus": False}
    )
    return context


def new_figure(width: float, height: float) -> Figure:
    """A tight figure on no backend (pyplot's global state is left alone)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="tight")


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def differential_figure(answer: Differential) -> Figure:
    """Horizontal bars, most probable on top; conformal-set members filled and labelled."""
    fig = new_figure(6.5, 0.5 * len(answer.conditions) + 1.2)
    ax = fig.subplots()
    names = [c.name for c in answer.conditions][::-1]
    probs = [c.probability for c in answer.conditions][::-1]
    member = [name in answer.prediction_set for name in names]
    colours = ["tab:blue" if m else "lightgrey" for m in member]
    bars = ax.barh(names, probs, color=colours, edgecolor="tab:blue")
    for bar, m in zip(bars, member, strict=True):
        if m:
            bar.set_hatch("//")
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability")
    title = "Differential"
    if answer.alpha is not None:
        title += f" (hatched: {round((1 - answer.alpha) * 100)}% prediction set)"
    ax.set_title(title)
    return fig


def evidence_figure(answer: Differential) -> Figure | None:
    """Evidence for (green) and against (red) the top condition; None when there is none."""
    top = answer.conditions[0] if answer.conditions else None
    if top is None or not (top.supporting or top.opposing):
        return None
    items = [*top.supporting, *top.opposing]
    fig = new_figure(6.5, 0.35 * len(items) + 1.2)
    ax = fig.subplots()
    labels = [item.feature for item in items][::-1]
    weights = [item.weight for item in items][::-1]
    ax.barh(labels, weights, color=["tab:green" if w > 0 else "tab:red" for w in weights])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(f"change in P({top.name})")
    ax.set_title(f"Evidence for and against {top.name}")
    return fig


def vitals_figure(case: Case) -> Figure | None:
    """One panel per observation measured at two or more times; None when none was."""
    specs = catalogue_by_loinc()
    series: dict[str, list[tuple[object, float]]] = defaultdict(list)
    units: dict[str, str] = {}
    for obs in case.observations:
        spec = specs.get(obs.code)
        if obs.time is None or spec is None:
            continue
        value = spec.to_canonical(obs.value, obs.unit)
        if value is not None:
            series[spec.name].append((obs.time, value))
            units[spec.name] = spec.unit
    trends = {
        name: sorted(points, key=lambda p: str(p[0]))
        for name, points in series.items()
        if len(points) >= 2
    }
    if not trends:
        return None
    fig = new_figure(6.5, 1.8 * len(trends) + 0.5)
    axes = fig.subplots(len(trends), 1, squeeze=False)[:, 0]
    for ax, (name, points) in zip(axes, sorted(trends.items()), strict=True):
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o")
        ax.set_ylabel(f"{name}\n({units[name]})", fontsize=8)
    axes[0].set_title("Vital-sign trends")
    fig.autofmt_xdate()
    return fig
