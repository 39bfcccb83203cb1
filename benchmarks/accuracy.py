"""Accuracy, calibration and train time of the baseline models on public data sets.

Not a test: it trains real models and prints measured numbers, nothing is hard-coded.

    python benchmarks/accuracy.py                      # full run, about 15-25 min on 2 cores
    python benchmarks/accuracy.py --quick              # smoke run: subsets, 2 folds
    python benchmarks/accuracy.py --models tfidf --datasets ddxplus,s2d --json-out bench.json

Protocols: DDXPlus and the synthetic cohort use one patient-disjoint, label-stratified
80/20 split (seed 0); Symptom2Disease and the three Chinese MedDialog sets use 5-fold
patient-disjoint stratified cross-validation (mean ± std over folds). Train time is the
wall time of ``fit`` only (mean per fold for cross-validation).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dxkit.cases.io import load_labeled
from dxkit.cases.schema import LabeledCase
from dxkit.errors import DxkitError
from dxkit.evaluate.summary import evaluate_predictions
from dxkit.models.base import DiagnosisModel
from dxkit.pipeline import MODEL_KINDS, keep_valid
from dxkit.train.splits import stratified_group_kfold, train_val_test_split

DEFAULT_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DATASETS = ("ddxplus", "s2d", "zh", "synthetic")
ZH_SETS = ("dxy", "mz4", "mz10")
METRICS = ("top1", "top3", "macro_f1", "ece", "gtpa1", "ddr", "ddp", "ddf1")
HEADERS = ("Top-1", "Top-3", "Macro-F1", "ECE", "GTPA@1", "DDR", "DDP", "DDF1")
SYNTHETIC_N, SYNTHETIC_SEED = 3000, 20261123
# RNN epoch caps per data set (early stopping on a 10% validation split still applies).
# Symptom2Disease and the synthetic cohort keep improving past the RnnConfig default of 10;
# DDXPlus stays at 10 because its long cases cost ~15 s per epoch on 2 cores.
RNN_EPOCHS = {"ddxplus": 10, "s2d": 30, "zh": 20, "synthetic": 20}


@dataclass
class Task:
    """One data set under one protocol: a fixed split or k-fold cross-validation."""

    key: str  # entry of DATASETS (picks the RNN epoch cap)
    name: str
    labeled: list[LabeledCase]
    folds: list[tuple[list[int], list[int]]]
    protocol: str
    soft: bool
    note: str = ""
    models: tuple[str, ...] = MODEL_KINDS


@dataclass
class Row:
    """Measured results of one model on one task; lists hold one value per fold."""

    model: str
    dataset: str
    protocol: str
    n_train: list[int] = field(default_factory=list)
    n_test: list[int] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    train_s: list[float] = field(default_factory=list)
    note: str = ""


def make_model(kind: str, epochs: int) -> DiagnosisModel:
    """A fresh model; the RNN gets no progress bar and a per-data-set epoch cap."""
    if kind == "tfidf":
        from dxkit.models.tfidf import TfidfConfig, TfidfModel

        return TfidfModel(TfidfConfig())
    from dxkit.models.rnn import RnnConfig, RnnModel

    return RnnModel(RnnConfig(epochs=epochs, seed=0, progress=False))


def holdout(labeled: list[LabeledCase]) -> list[tuple[list[int], list[int]]]:
    """The patient-disjoint stratified 80/20 split as one (train, test) index pair."""
    split = train_val_test_split(labeled, val=0.0, test=0.2, seed=0)
    position = {id(lc): i for i, lc in enumerate(labeled)}
    return [([position[id(lc)] for lc in split.train], [position[id(lc)] for lc in split.test])]


def run_fold(
    kind: str, task: Task, train: Sequence[LabeledCase], test: Sequence[LabeledCase], epochs: int
) -> tuple[dict[str, Any], float]:
    """Fit on ``train``, score on ``test``: (metrics, fit seconds)."""
    model = make_model(kind, epochs)
    diffs = [lc.differential for lc in train]
    targets = diffs if task.soft and any(d for d in diffs) else None
    start = time.perf_counter()
    model.fit([lc.case for lc in train], [lc.label for lc in train], differentials=targets)
    seconds = time.perf_counter() - start
    proba = model.predict_proba([lc.case for lc in test])
    reference = [lc.differential for lc in test]
    metrics = evaluate_predictions(
        proba,
        list(model.labels),
        [lc.label for lc in test],
        reference=reference if any(r for r in reference) else None,
    )
    return metrics, seconds


def run_task(kind: str, task: Task, quick: bool) -> Row:
    """Every fold of ``task`` with a fresh ``kind`` model."""
    epochs = 3 if quick else RNN_EPOCHS[task.key]
    row = Row(kind, task.name, task.protocol, note=task.note)
    if kind == "rnn":
        row.note = "; ".join(n for n in (task.note, f"RNN epochs <= {epochs}") if n)
    for number, (train_idx, test_idx) in enumerate(task.folds, start=1):
        train = [task.labeled[i] for i in train_idx]
        test = [task.labeled[i] for i in test_idx]
        metrics, seconds = run_fold(kind, task, train, test, epochs)
        row.n_train.append(len(train))
        row.n_test.append(len(test))
        row.train_s.append(seconds)
        for name in METRICS:
            if metrics.get(name) is not None:
                row.metrics.setdefault(name, []).append(float(metrics[name]))
        fold = f" fold {number}/{len(task.folds)}" if len(task.folds) > 1 else ""
        print(
            f"  {kind:5s} {task.name}{fold}: top1 {metrics['top1']:.3f}, fit {seconds:.1f} s",
            flush=True,
        )
    return row


def load_tasks(names: Sequence[str], root: Path, quick: bool) -> list[Task]:
    """Read, validate and split every selected data set."""
    k = 2 if quick else 5
    cv = f"{k}-fold CV"
    tasks: list[Task] = []

    def add(
        key: str,
        name: str,
        raw: list[LabeledCase],
        cross: bool,
        soft: bool,
        note: str,
        models: tuple[str, ...] = MODEL_KINDS,
    ) -> None:
        labeled, dropped = keep_valid(raw)
        notes = [note] if note else []
        if dropped:
            notes.append(f"{dropped} invalid cases dropped")
        folds = stratified_group_kfold(labeled, k=k, seed=0) if cross else holdout(labeled)
        protocol = cv if cross else "80/20 split"
        if any(lc.differential for lc in labeled):
            protocol += ", soft targets" if soft else ", hard labels"
        tasks.append(Task(key, name, labeled, folds, protocol, soft, "; ".join(notes), models))

    limit = 400 if quick else None
    sub = f"quick subset of first {limit}" if limit else ""
    if "ddxplus" in names:
        raw = load_labeled(root / "ddxplus" / "patients_dev.csv", "ddxplus", limit=limit)
        add("ddxplus", "DDXPlus", raw, False, True, sub)
        add("ddxplus", "DDXPlus", raw, False, False, sub, models=("tfidf",))
    if "s2d" in names:
        path = root / "symptom2disease" / "symptom2disease_dev.csv"
        raw = load_labeled(path, "symptom2disease", limit=limit)
        add("s2d", "Symptom2Disease", raw, True, True, sub)
    if "zh" in names:
        for zh in ZH_SETS:
            path = root / "zh_meddialog_diagnosis" / zh / "train_set.json"
            raw = load_labeled(path, "zh", limit=limit)
            add("zh", zh.upper().replace("MZ", "MZ-"), raw, True, True, sub)
    if "synthetic" in names:
        from dxkit.cases.synthetic import CohortConfig, generate_cohort

        n = 600 if quick else SYNTHETIC_N
        raw = generate_cohort(CohortConfig(n=n, seed=SYNTHETIC_SEED))
        add("synthetic", f"Synthetic n={n}", raw, False, False, f"seed {SYNTHETIC_SEED}")
    return tasks


def cell(values: Sequence[float] | None, digits: int = 3) -> str:
    """One value, or mean ± std over folds; a dash where the metric does not apply."""
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def sizes(row: Row) -> str:
    """Train/test counts: exact for a split, mean per fold for cross-validation."""
    if len(row.n_train) == 1:
        return f"{row.n_train[0]}/{row.n_test[0]}"
    return f"~{round(statistics.mean(row.n_train))}/{round(statistics.mean(row.n_test))}"


def markdown(rows: Sequence[Row]) -> str:
    """The results as a Markdown table, notes as numbered footnotes under it."""
    head = ("Model", "Data set", "Protocol", "Train/test", *HEADERS, "Train s")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    notes: list[str] = []
    for row in rows:
        name = row.dataset
        if row.note:
            if row.note not in notes:
                notes.append(row.note)
            name += f" [{notes.index(row.note) + 1}]"
        values = [cell(row.metrics.get(m)) for m in METRICS]
        train = f"{statistics.mean(row.train_s):.1f}" if row.train_s else "–"
        lines.append(
            "| " + " | ".join((row.model, name, row.protocol, sizes(row), *values, train)) + " |"
        )
    lines += [""] + [f"[{i}] {note}" for i, note in enumerate(notes, start=1)]
    return "\n".join(lines)


def summary(row: Row) -> dict[str, dict[str, float]]:
    """Mean and standard deviation (0 for a single split) of each metric and train time."""
    out = {}
    for name, values in [*row.metrics.items(), ("train_s", row.train_s)]:
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        out[name] = {"mean": round(statistics.mean(values), 4), "std": round(std, 4)}
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smoke run: subsets, 2 folds")
    parser.add_argument("--models", default=",".join(MODEL_KINDS), help="e.g. tfidf,rnn")
    parser.add_argument("--datasets", default=",".join(DATASETS), help=",".join(DATASETS))
    parser.add_argument("--data-root", type=Path, default=DEFAULT_ROOT, help="shared data")
    parser.add_argument("--json-out", type=Path, default=None, help="also write JSON here")
    args = parser.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    args.datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    for value, allowed, flag in (
        (args.models, MODEL_KINDS, "--models"),
        (args.datasets, DATASETS, "--datasets"),
    ):
        unknown = sorted(set(value) - set(allowed))
        if unknown or not value:
            parser.error(f"{flag}: expected a comma list of {', '.join(allowed)}; found {unknown}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    root: Path = args.data_root.resolve()
    if set(args.datasets) - {"synthetic"} and not root.is_dir():
        print(f"data root not found: {root} (pass --data-root PATH)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    print(f"machine: {os.cpu_count()} CPUs; data root: {root}; quick: {args.quick}", flush=True)
    try:
        tasks = load_tasks(args.datasets, root, args.quick)
    except DxkitError as exc:
        print(f"cannot load the data: {exc}", file=sys.stderr)
        return 2
    rows: list[Row] = []
    for task in tasks:
        print(f"{task.name} ({task.protocol}, {len(task.labeled)} cases)", flush=True)
        for kind in args.models:
            if kind in task.models:
                rows.append(run_task(kind, task, args.quick))
    wall = time.perf_counter() - started
    table = markdown(rows)
    print(f"\n{table}\n\nmachine: {os.cpu_count()} CPUs; total wall time {wall:.0f} s")
    if args.json_out is not None:
        payload = {
            "cpu_count": os.cpu_count(),
            "wall_s": round(wall, 1),
            "quick": args.quick,
            "rows": [{**asdict(row), "summary": summary(row)} for row in rows],
            "table": table,
        }
        args.json_out.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
