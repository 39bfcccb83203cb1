"""Terminal rendering of differentials and metrics with rich (no logic, only layout)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dxkit.report.differential import Differential

_TRIAGE_STYLE = {"emergency": "bold red", "urgent": "yellow", "routine": "green"}


def differential_table(answer: Differential) -> Table:
    """One table per case: rank, condition, ICD-10, probability bar, triage."""
    who = ", ".join(str(x) for x in (answer.age, answer.sex) if x not in (None, "unknown"))
    title = f"Differential for case {answer.case_id}" + (f" ({who})" if who else "")
    table = Table(title=escape(title))
    table.add_column("#", justify="right")
    table.add_column("condition")
    table.add_column("ICD-10")
    table.add_column("probability", justify="right")
    table.add_column("")
    table.add_column("triage")
    for rank, cond in enumerate(answer.conditions, start=1):
        level = cond.triage.value if cond.triage else "-"
        bar = "█" * max(1, round(cond.probability * 20)) if cond.probability >= 0.005 else ""
        table.add_row(
            str(rank),
            escape(cond.name),
            escape(cond.icd10 or "-"),
            f"{cond.probability:.3f}",
            bar,
            f"[{_TRIAGE_STYLE.get(level, '')}]{level}[/]" if level in _TRIAGE_STYLE else level,
        )
    return table


def print_differential(console: Console, answer: Differential) -> None:
    """Table, triage decision with its reason, and data-quality warnings."""
    console.print(differential_table(answer))
    level = answer.triage.level.value
    style = _TRIAGE_STYLE.get(level, "")
    console.print(
        f"Triage: [{style}]{level}[/] - {answer.triage.reason}"
        if style
        else f"Triage: {level} - {answer.triage.reason}"
    )
    for cond in answer.conditions:
        if cond.supporting or cond.opposing:
            pro = ", ".join(item.feature for item in cond.supporting) or "-"
            con = ", ".join(item.feature for item in cond.opposing) or "-"
            console.print(
                f"Evidence for {escape(cond.name)}: [green]{escape(pro)}[/]; "
                f"against: [red]{escape(con)}[/]"
            )
    if answer.alpha is not None:
        level_pct = round((1 - answer.alpha) * 100)
        members = ", ".join(answer.prediction_set)
        console.print(f"{level_pct}% prediction set: {escape(members)}")
    if answer.abstain:
        console.print(f"[bold red]Refer to a clinician:[/] {escape(answer.abstain_reason)}")
    for warning in answer.warnings:
        console.print(f"[yellow]warning[/] {warning.field}: {warning.message}")
    console.print(f"[dim]{answer.disclaimer}[/]\n")


def metrics_table(title: str, metrics: Mapping[str, Any], keys: Sequence[str]) -> Table:
    """A two-column table of the scalar metrics in ``keys`` that are present."""
    table = Table(title=escape(title))
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in keys:
        if key in metrics and isinstance(metrics[key], int | float):
            value = metrics[key]
            table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    return table


def subgroup_table(subgroups: Mapping[str, Any]) -> Table:
    """Per metric, the largest gap between sex or age-band groups and which groups."""
    table = Table(title="Largest subgroup gaps (groups with >= 10 cases)")
    for column in ("metric", "attribute", "gap", "best group", "worst group"):
        table.add_column(column)
    for metric, gap in (subgroups.get("largest_gap") or {}).items():
        if not gap:
            continue
        worse_is_higher = metric in ("ece", "brier", "nll")
        best, worst = gap["max_group"], gap["min_group"]
        if worse_is_higher:
            best, worst = worst, best
        table.add_row(
            metric, str(gap["attribute"]), f"{gap['gap']:.4f}", escape(best), escape(worst)
        )
    return table
