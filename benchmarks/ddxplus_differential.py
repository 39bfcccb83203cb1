"""DDXPlus differential quality of the TF-IDF model: sample expansion vs a direct soft fit.

Not a test: it trains real models and prints measured numbers, nothing is hard-coded.

    python benchmarks/ddxplus_differential.py                        # all sizes, ~15 min
    python benchmarks/ddxplus_differential.py --train-size 500 --variants expand,mlp

Protocol: ``patients_dev.csv`` (all evidences given at once), patient-disjoint stratified
80/20 split, seed 0, as in ``accuracy.py``. Smaller training sizes are seeded random
subsets of the same training part; the test part never changes. Fit time is the wall
time of ``fit`` only. Variants (peers in one run, same features):

* ``expand``: one logistic regression on the case rows expanded per differential entry;
* ``linear``: hard head + linear soft head fitted directly on the differential;
* ``mlp``: hard head + soft head with one hidden layer (the default configuration).

Temperature scaling (``--temperature``): the model is refitted on 90% of the training
part, T is fitted on the other 10% (by NLL on the ground truth) and applied to the test
predictions; ECE and DDF1 are printed before and after. ``--s2d`` also compares the
scikit-learn hard-label head with the torch head on one-hot targets on Symptom2Disease.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dxkit.calibrate.temperature import apply_temperature, fit_temperature
from dxkit.cases.io import load_labeled
from dxkit.cases.schema import LabeledCase
from dxkit.evaluate.summary import evaluate_predictions
from dxkit.models.tfidf import TfidfConfig, TfidfModel
from dxkit.pipeline import keep_valid
from dxkit.train.splits import train_val_test_split

DEFAULT_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data"
VARIANTS = {
    "expand": TfidfConfig(soft_fit="expand"),
    "linear": TfidfConfig(hidden=0),
    "mlp": TfidfConfig(),
}
SHOWN = ("gtpa1", "ddr", "ddp", "ddf1", "ece", "top3")


def score(proba: np.ndarray, labels: list[str], test: Sequence[LabeledCase]) -> dict[str, Any]:
    """The metrics of ``evaluate_predictions`` against the reference differentials."""
    return evaluate_predictions(
        proba,
        labels,
        [lc.label for lc in test],
        reference=[lc.differential for lc in test],
    )


def fit(config: TfidfConfig, train: Sequence[LabeledCase]) -> tuple[TfidfModel, float]:
    """A fitted model on ``train`` with its differentials, and the fit wall time."""
    start = time.perf_counter()
    model = TfidfModel(config).fit(
        [lc.case for lc in train],
        [lc.label for lc in train],
        differentials=[lc.differential for lc in train],
    )
    return model, time.perf_counter() - start


def row(name: str, size: int, seconds: float, metrics: dict[str, Any]) -> str:
    values = " | ".join(f"{float(metrics[k]):.3f}" for k in SHOWN)
    return f"| {name} | {size} | {values} | {seconds:.1f} |"


def with_temperature(
    config: TfidfConfig, train: Sequence[LabeledCase], test: Sequence[LabeledCase]
) -> str:
    """Refit on 90%, fit T on 10%, and compare test ECE / DDF1 / GTPA@1 before and after."""
    split = train_val_test_split(train, val=0.1, test=0.0, seed=0)
    model, _ = fit(config, split.train)
    position = {label: i for i, label in enumerate(model.labels)}
    val_proba = model.predict_proba([lc.case for lc in split.val])
    y_val = np.asarray([position.get(lc.label, -1) for lc in split.val])
    temperature = fit_temperature(val_proba, y_val)
    raw = model.predict_proba([lc.case for lc in test])
    before = score(raw, model.labels, test)
    after = score(apply_temperature(raw, temperature), model.labels, test)
    return (
        f"T={temperature:.3f} | ECE {before['ece']:.3f} -> {after['ece']:.3f} | "
        f"DDF1 {before['ddf1']:.3f} -> {after['ddf1']:.3f} | "
        f"DDR {before['ddr']:.3f} -> {after['ddr']:.3f} | "
        f"DDP {before['ddp']:.3f} -> {after['ddp']:.3f} | "
        f"GTPA@1 {before['gtpa1']:.3f} -> {after['gtpa1']:.3f}"
    )


def s2d_compare(root: Path) -> None:
    """Hard labels only: the scikit-learn head against the torch head on one-hot targets."""
    from dxkit.models.tfidf import _frame, fit_soft_head, soft_head_proba

    raw = load_labeled(root / "symptom2disease" / "symptom2disease_dev.csv", "symptom2disease")
    labeled, _ = keep_valid(raw)
    split = train_val_test_split(labeled, val=0.0, test=0.2, seed=0)
    cases, y = [lc.case for lc in split.train], [lc.label for lc in split.train]
    y_test = [lc.label for lc in split.test]
    start = time.perf_counter()
    model = TfidfModel().fit(cases, y)
    sk_s = time.perf_counter() - start
    sk = evaluate_predictions(
        model.predict_proba([lc.case for lc in split.test]), model.labels, y_test
    )
    features = model._pipeline[0]
    x = features.transform(_frame(cases, False))
    onehot = np.eye(len(model.labels))[[model.labels.index(v) for v in y]]
    # sklearn's C=10 on a summed loss equals l2 = 1 / (2 C n) on the mean loss
    start = time.perf_counter()
    head = fit_soft_head(x, onehot, l2=1 / (2 * 10 * len(y)), hidden=0, max_iter=300, seed=0)
    torch_s = time.perf_counter() - start
    x_test = features.transform(_frame([lc.case for lc in split.test], False))
    th = evaluate_predictions(soft_head_proba(x_test, head), model.labels, y_test)
    print(f"\nSymptom2Disease 80/20 ({len(y)}/{len(y_test)}), hard labels, head fit only:")
    print(f"  sklearn lbfgs: top1 {sk['top1']:.3f}, ECE {sk['ece']:.3f}, fit {sk_s:.1f} s (all)")
    print(f"  torch L-BFGS : top1 {th['top1']:.3f}, ECE {th['ece']:.3f}, fit {torch_s:.1f} s")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--train-size", default="500,1000,all", help="comma list, or 'all'")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=",".join(VARIANTS))
    parser.add_argument("--temperature", action="store_true", help="also T-scaling (full size)")
    parser.add_argument("--s2d", action="store_true", help="also the Symptom2Disease check")
    parser.add_argument("--data-root", type=Path, default=DEFAULT_ROOT, help="shared data")
    args = parser.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if not args.variants or set(args.variants) - set(VARIANTS):
        parser.error(f"--variants: expected a comma list of {', '.join(VARIANTS)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    root: Path = args.data_root.resolve()
    path = root / "ddxplus" / "patients_dev.csv"
    if not path.is_file():
        print(f"DDXPlus not found: {path} (pass --data-root PATH)", file=sys.stderr)
        return 2
    labeled, dropped = keep_valid(load_labeled(path, "ddxplus"))
    split = train_val_test_split(labeled, val=0.0, test=0.2, seed=0)
    train, test = split.train, split.test
    sizes = [len(train) if s.strip() == "all" else int(s) for s in args.train_size.split(",")]
    print(f"machine: {os.cpu_count()} CPUs; {len(labeled)} cases ({dropped} invalid dropped)")
    print(f"train part {len(train)}, test {len(test)}\n")
    print("| Variant | Train | GTPA@1 | DDR | DDP | DDF1 | ECE | Top-3 | Fit s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in sizes:
        subset = random.Random(0).sample(train, min(size, len(train)))
        for name in args.variants:
            model, seconds = fit(VARIANTS[name], subset)
            metrics = score(model.predict_proba([lc.case for lc in test]), model.labels, test)
            print(row(name, len(subset), seconds, metrics), flush=True)
    if args.temperature:
        print(f"\nTemperature scaling (fit on 90% of {len(train)}, T on the other 10%):")
        for name in args.variants:
            print(f"  {name}: {with_temperature(VARIANTS[name], train, test)}", flush=True)
    if args.s2d:
        s2d_compare(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
