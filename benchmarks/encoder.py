"""Fine-tuned encoder vs the TF-IDF baseline, measured in the same run on the same split.

Not a test: it fine-tunes the real pretrained encoder and prints measured figures.

    python benchmarks/encoder.py --dataset synthetic --n 3000          # demo-sized cohort
    python benchmarks/encoder.py --dataset synthetic --n 22500 --epochs 1   # 20k train cases
    python benchmarks/encoder.py --dataset s2d --folds 5               # Symptom2Disease CV

Per split: patient-disjoint, label-stratified train / calibration (10%) / test (20%) for
the synthetic cohort; 5-fold patient-disjoint CV on Symptom2Disease with 10% of each
training fold held out for calibration. Both models are calibrated (temperature + group
conditional conformal sets at alpha 0.1) on the same held-out cases. Reported: top-1/3,
ECE before and after temperature scaling, conformal coverage and mean set size overall
and the lowest per sex / age-band group, fit wall time, and (``--faithfulness N``)
ERASER comprehensiveness / sufficiency of the top-5 integrated-gradients words against
random words on N test cases.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from dxkit.calibrate.temperature import CalibratedModel, apply_temperature, subgroup_key
from dxkit.cases.schema import LabeledCase, age_band
from dxkit.evaluate.summary import evaluate_predictions
from dxkit.models.base import DiagnosisModel
from dxkit.models.encoder import EncoderModel
from dxkit.models.encoder_config import EncoderConfig
from dxkit.pipeline import conformal_metrics, keep_valid
from dxkit.train.splits import stratified_group_kfold, train_val_test_split

ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def encoder(args: argparse.Namespace) -> EncoderModel:
    return EncoderModel(
        EncoderConfig(
            epochs=args.epochs,
            freeze_layers=args.freeze,
            max_length=args.max_length,
            bf16=args.bf16,
            batch_size=args.batch_size,
            lr=args.lr,
            progress=False,
        )
    )


def tfidf() -> DiagnosisModel:
    from dxkit.models.tfidf import TfidfConfig, TfidfModel

    return TfidfModel(TfidfConfig())


def score(
    model: DiagnosisModel, calib: list[LabeledCase], test: list[LabeledCase]
) -> dict[str, Any]:
    """Calibrate on ``calib``, then every figure on ``test``."""
    calibrated = CalibratedModel.calibrate(
        model, [lc.case for lc in calib], [lc.label for lc in calib], alpha=0.1
    )
    cases = [lc.case for lc in test]
    raw = model.predict_proba(cases)
    proba = apply_temperature(raw, calibrated.temperature)  # what calibrated predicts
    y = [lc.label for lc in test]
    groups = {"sex": [c.sex.value for c in cases], "age_band": [age_band(c.age) for c in cases]}
    before = evaluate_predictions(raw, list(model.labels), y)
    after = evaluate_predictions(proba, list(model.labels), y, **groups)
    out = {
        "top1": after["top1"],
        "top3": after["top3"],
        "ece_before": before["ece"],
        "ece": after["ece"],
        "temperature": round(calibrated.temperature, 3),
    }
    if calibrated.conformal is not None:
        out.update(conformal_metrics(calibrated, proba, test))
        sets = calibrated.conformal.predict_sets(proba, [subgroup_key(c) for c in cases])
        index = {label: i for i, label in enumerate(model.labels)}
        hit = np.array([index.get(lc.label, -1) in s for lc, s in zip(test, sets, strict=True)])
        worst = {}
        for name, values in groups.items():
            cover = {
                g: float(hit[np.array(values) == g].mean())
                for g in set(values)
                if (np.array(values) == g).sum() >= 30
            }
            if cover:
                g = min(cover, key=cover.__getitem__)
                worst[name] = f"{g} {cover[g]:.3f}"
        out["worst_group_coverage"] = worst
    return out


def run_split(
    args: argparse.Namespace, train: list[LabeledCase], calib: list[LabeledCase], test: list
) -> dict[str, dict[str, Any]]:
    results = {}
    kinds = ["encoder"] if args.no_peer else ["encoder", "tfidf"]
    for kind in kinds:
        model = encoder(args) if kind == "encoder" else tfidf()
        diffs = [lc.differential for lc in train]
        soft = diffs if any(diffs) else None
        start = time.perf_counter()
        model.fit([lc.case for lc in train], [lc.label for lc in train], differentials=soft)
        seconds = time.perf_counter() - start
        row = score(model, calib, test)
        row["fit_s"] = round(seconds, 1)
        row["n_train"] = len(train)
        if kind == "encoder" and args.faithfulness:
            row["faithfulness"] = faithfulness(model, test[: args.faithfulness])
        results[kind] = row
        print(f"  {kind}: {json.dumps(row)}", flush=True)
    return results


def faithfulness(model: EncoderModel, test: list[LabeledCase]) -> dict[str, Any]:
    from dxkit.explain import faithfulness as erase
    from dxkit.explain import integrated_gradients

    cases = [lc.case for lc in test]
    targets = model.predict_proba(cases).argmax(axis=1).tolist()
    start = time.perf_counter()
    attributions = integrated_gradients(model, cases, targets, n_steps=20)
    seconds = time.perf_counter() - start
    report = erase(model, cases, attributions, k=5).model_dump()
    report["ig_seconds_per_case"] = round(seconds / max(1, len(cases)), 3)
    return report


def synthetic(args: argparse.Namespace) -> None:
    from dxkit.cases.synthetic import CohortConfig, NoiseConfig, generate_cohort

    cohort = generate_cohort(
        CohortConfig(n=args.n, seed=20261123, noise=NoiseConfig(implausible_rate=0.0))
    )
    kept, _ = keep_valid(cohort)
    split = train_val_test_split(kept, val=0.1, test=0.2, seed=0)
    print(
        f"synthetic cohort: {len(split.train)} train, {len(split.val)} calib, "
        f"{len(split.test)} test",
        flush=True,
    )
    run_split(args, split.train, split.val, split.test)


def symptom2disease(args: argparse.Namespace) -> None:
    from dxkit.cases.io import load_labeled

    labeled, _ = keep_valid(load_labeled(ROOT / "symptom2disease", "symptom2disease"))
    folds = stratified_group_kfold(labeled, k=args.folds, seed=0)
    per_fold: list[dict[str, dict[str, Any]]] = []
    for number, (train_idx, test_idx) in enumerate(folds, start=1):
        train_all = [labeled[i] for i in train_idx]
        inner = train_val_test_split(train_all, val=0.1, test=0.0, seed=number)
        print(f"fold {number}/{len(folds)}", flush=True)
        per_fold.append(run_split(args, inner.train, inner.val, [labeled[i] for i in test_idx]))
        if args.max_folds and number >= args.max_folds:
            break
    for kind in per_fold[0]:
        for metric in ("top1", "ece", "coverage", "mean_set_size", "fit_s"):
            values = [f[kind][metric] for f in per_fold if metric in f[kind]]
            if values:
                spread = statistics.stdev(values) if len(values) > 1 else 0.0
                print(f"{kind:8s} {metric:14s} {statistics.mean(values):.4f} ± {spread:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=("synthetic", "s2d"), default="synthetic")
    parser.add_argument("--n", type=int, default=3000, help="synthetic cohort size")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--max-folds", type=int, default=0, help="stop after N folds")
    parser.add_argument("--epochs", type=int, default=EncoderConfig.epochs)
    parser.add_argument("--freeze", type=int, default=EncoderConfig.freeze_layers)
    parser.add_argument("--max-length", type=int, default=EncoderConfig.max_length)
    parser.add_argument("--batch-size", type=int, default=EncoderConfig.batch_size)
    parser.add_argument("--lr", type=float, default=EncoderConfig.lr)
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=EncoderConfig.bf16)
    parser.add_argument("--faithfulness", type=int, default=0, help="IG on N test cases")
    parser.add_argument("--no-peer", action="store_true", help="skip the TF-IDF peer")
    args = parser.parse_args()
    print(f"settings: {vars(args)}", flush=True)
    (synthetic if args.dataset == "synthetic" else symptom2disease)(args)


if __name__ == "__main__":
    main()
