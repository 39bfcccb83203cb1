"""A Markdown model card written beside the HTML evaluation report.

Why: a saved model travels without its evaluation. The card (after Mitchell et al., "Model
Cards for Model Reporting", FAT* 2019) puts intended use, what the model was trained on,
how well it did overall and per subgroup, how well its probabilities and prediction sets
are calibrated, and its limits in one short file a reviewer reads before deployment.

Every number comes from the model's manifest or from the metrics dict of
:func:`dxkit.pipeline.evaluate_model`; nothing is re-measured here. The prose lives in the
template ``resources/model_card.md`` so it can be edited without touching code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from string import Template
from typing import Any

from dxkit.models.base import atomic_write_text, read_manifest

# metric name -> (column title, higher is worse)
SUBGROUP_COLUMNS = {
    "top1": ("top-1", False),
    "top3": ("top-3", False),
    "macro_f1": ("macro-F1", False),
    "ece": ("ECE", True),
    "coverage": ("coverage", False),
    "mean_set_size": ("set size", True),
}
OVERALL_KEYS: tuple[str, ...] = ("n", "top1", "top3", "top5", "macro_f1", "balanced_accuracy")
OVERALL_KEYS += ("ece", "brier", "nll", "gtpa1", "gtpa", "ddr")
OVERALL_KEYS += ("ddp", "ddf1", "n_rejected")

__all__ = [
    "ModelInfo",
    "SubgroupRow",
    "fmt",
    "model_info",
    "render_model_card",
    "subgroup_rows",
    "write_model_card",
]


@dataclass(frozen=True)
class ModelInfo:
    """What the manifest of a saved model says about it."""

    path: str
    kind: str
    dxkit_version: str
    n_labels: int
    config: dict[str, Any] = field(default_factory=dict)
    temperature: float | None = None
    calibration: dict[str, Any] = field(default_factory=dict)  # ece/nll before and after
    alpha: float | None = None
    n_calibration: int | None = None


def model_info(model_dir: Path) -> ModelInfo:
    """Read the manifest of ``model_dir`` (checked like :func:`dxkit.models.load_model`)."""
    m = read_manifest(Path(model_dir))
    calibration = dict(m.get("calibration") or {})
    conformal = m.get("conformal") or {}
    return ModelInfo(
        path=str(model_dir),
        kind=str(m.get("kind", "?")),
        dxkit_version=str(m.get("dxkit_version", "?")),
        n_labels=len(m.get("labels", [])),
        config=dict(m.get("config") or {}),
        temperature=calibration.pop("temperature", None),
        calibration=calibration,
        alpha=conformal.get("alpha"),
        n_calibration=conformal.get("n_calibration"),
    )


def fmt(value: Any) -> str:
    """A metric as text: 4 decimals for floats, ``-`` for missing or NaN.

    >>> fmt(0.5), fmt(3), fmt(None)
    ('0.5000', '3', '-')
    """
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class SubgroupRow:
    """One group of the subgroup table, with which of its values are the worst of a gap."""

    attribute: str
    group: str
    n: int
    values: dict[str, float | None]
    worst: frozenset[str]  # metrics where this group is the worse end of the largest gap
    under_covered: bool


def subgroup_rows(metrics: Mapping[str, Any]) -> list[SubgroupRow]:
    """Rows per sex and age band from ``subgroups`` and ``coverage_by_group`` of the metrics.

    >>> m = {"subgroups": {"sex": {"top1": {"values": {"f": 0.9, "m": 0.5},
    ...      "n": {"f": 20, "m": 20}}}, "largest_gap": {"top1": {"attribute": "sex",
    ...      "gap": 0.4, "max_group": "f", "min_group": "m"}}}}
    >>> [(r.group, r.values["top1"], sorted(r.worst)) for r in subgroup_rows(m)]
    [('f', 0.9, []), ('m', 0.5, ['top1'])]
    """
    tables = [metrics.get("subgroups") or {}, metrics.get("coverage_by_group") or {}]
    gaps: dict[str, dict[str, Any]] = {}
    for table in reversed(tables):  # accuracy-table gaps win for a metric in both (ECE)
        gaps.update(table.get("largest_gap") or {})
    flagged = {(u["attribute"], u["group"]) for u in (tables[1].get("under_covered") or [])}
    rows: list[SubgroupRow] = []
    for attribute in ("sex", "age_band"):
        columns: dict[str, dict[str, Any]] = {}
        for table in reversed(tables):
            columns.update(table.get(attribute) or {})
        if not columns:
            continue
        groups: dict[str, int] = {}
        for result in columns.values():
            groups.update(result.get("n") or {})
        for group, n in sorted(groups.items()):
            values = {k: columns[k]["values"].get(group) for k in SUBGROUP_COLUMNS if k in columns}
            worst = {
                k
                for k, g in gaps.items()
                if g.get("attribute") == attribute
                and g.get("gap")  # no highlight when all groups are equal
                and g.get("max_group" if SUBGROUP_COLUMNS.get(k, ("", False))[1] else "min_group")
                == group
            }
            rows.append(
                SubgroupRow(
                    attribute, group, n, values, frozenset(worst), (attribute, group) in flagged
                )
            )
    return rows


def _count(value: Any) -> int | None:
    """A case count stored as a float in the manifest (rounded with the metrics)."""
    return None if value is None else int(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _subgroups_md(metrics: Mapping[str, Any]) -> str:
    rows = subgroup_rows(metrics)
    if not rows:
        return "No subgroup results (the evaluation data has no sex or age)."
    keys = [k for k in SUBGROUP_COLUMNS if any(k in r.values for r in rows)]
    body = [
        [r.attribute, r.group + (" (under-covered)" if r.under_covered else ""), str(r.n)]
        + [fmt(r.values.get(k)) + (" **worst**" if k in r.worst else "") for k in keys]
        for r in rows
    ]
    note = "\n\n**worst** marks the worse end of the largest gap per metric (groups >= 10)."
    return _table(["attribute", "group", "n"] + [SUBGROUP_COLUMNS[k][0] for k in keys], body) + note


def _calibration_md(info: ModelInfo, metrics: Mapping[str, Any]) -> str:
    if info.temperature is None:
        ece = fmt(metrics.get("ece"))
        return f"Not calibrated (no temperature). ECE on the evaluation data: {ece}."
    held = info.calibration
    return (
        f"Temperature scaling, T = {fmt(float(info.temperature))}, fitted on "
        f"{fmt(_count(held.get('n')))} held-out cases: ECE {fmt(held.get('ece_before'))} -> "
        f"{fmt(held.get('ece_after'))}, NLL {fmt(held.get('nll_before'))} -> "
        f"{fmt(held.get('nll_after'))} on those cases. "
        f"ECE on the evaluation data: {fmt(metrics.get('ece'))}."
    )


def _conformal_md(metrics: Mapping[str, Any]) -> str:
    if "coverage" not in metrics:
        return "No conformal prediction sets (the model was saved without them)."
    alpha = float(metrics["alpha"])
    text = (
        f"Target coverage {fmt(1 - alpha)} (alpha {fmt(alpha)}): measured coverage "
        f"{fmt(metrics['coverage'])}, mean set size {fmt(metrics['mean_set_size'])}, "
        f"abstention rate {fmt(metrics.get('abstain_rate'))}."
    )
    under = (metrics.get("coverage_by_group") or {}).get("under_covered") or []
    for u in under:
        small = " (fewer than 10 cases)" if u.get("small") else ""
        text += f"\n- Under-covered: {u['attribute']} {u['group']}: {fmt(u['coverage'])}{small}"
    return text


def render_model_card(info: ModelInfo, metrics: Mapping[str, Any], data_name: str) -> str:
    """The model card as Markdown text."""
    from dxkit.report.differential import DISCLAIMER

    template = Template(files("dxkit.resources").joinpath("model_card.md").read_text("utf-8"))
    config = [[f"`{k}`", f"`{v}`"] for k, v in sorted(info.config.items())]
    overall = [[k, fmt(metrics[k])] for k in OVERALL_KEYS if k in metrics]
    training = (
        f"The manifest records the model kind ({info.kind}), its {info.n_labels} condition "
        "labels and the configuration above; it does not record the training data set "
        "itself, so keep that provenance with the model directory."
    )
    if info.calibration.get("n") is not None:
        training += f" {_count(info.calibration['n'])} held-out patients were used for calibration."
    return template.substitute(
        kind=info.kind,
        path=info.path,
        dxkit_version=info.dxkit_version,
        n_labels=info.n_labels,
        temperature=fmt(info.temperature),
        alpha=fmt(info.alpha),
        config=_table(["setting", "value"], config) if config else "(none recorded)",
        training=training,
        data_name=data_name,
        n=fmt(metrics.get("n")),
        n_rejected=fmt(metrics.get("n_rejected")),
        metrics=_table(["metric", "value"], overall),
        subgroups=_subgroups_md(metrics),
        calibration=_calibration_md(info, metrics),
        conformal=_conformal_md(metrics),
        disclaimer=DISCLAIMER,
    )


def write_model_card(
    path: Path, info: ModelInfo, metrics: Mapping[str, Any], data_name: str
) -> None:
    """Render and write the card atomically (a reader never sees half a file)."""
    atomic_write_text(Path(path), render_model_card(info, metrics, data_name))
