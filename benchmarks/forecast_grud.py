"""GRU-D forecaster on PhysioNet 2012 set-a-dev: patient-disjoint 5-fold CV.

The same folds as ``benchmarks/forecast.py`` (StratifiedKFold, shuffle, seed 0, one
record = one ICU stay = one patient), so the rows compare directly with the boosting
model and the SAPS-I / SOFA columns there. Per fold the GRU-D model trains on 4/5 (early
stopping, Platt calibration and the alert threshold on an inner 20 % split of that) and
is scored on the held-out fifth. Metrics are pooled over out-of-fold predictions; fold
mean +- std is shown too. The worst NEWS2 up to the prediction time is the bedside
comparator.

    .venv/bin/python benchmarks/forecast_grud.py                # full run, ~10 min on 2 cores
    .venv/bin/python benchmarks/forecast_grud.py --limit 600    # smoke run
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold

from dxkit.forecast.grud import GrudConfig, GrudForecaster
from dxkit.forecast.metrics import apply_policy, auprc, auroc, risk_metrics
from dxkit.forecast.physionet import load_physionet, read_outcomes
from dxkit.forecast.report import score_columns
from dxkit.forecast.workflow import with_outcomes

ROOT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "physionet2012_seta"
KEYS = ("auroc", "auprc", "brier", "ece")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "set-a-dev.tar.gz")
    parser.add_argument("--outcomes", type=Path, default=ROOT / "Outcomes-a-dev.txt")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args()

    start = time.perf_counter()
    records, y, rows = with_outcomes(
        load_physionet(args.data, limit=args.limit), read_outcomes(args.outcomes)
    )
    timing: dict[str, float] = {"load_s": round(time.perf_counter() - start, 1)}
    folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=0).split(y, y))
    results: dict[str, dict[str, float]] = {}
    for hours in (48, 24):
        risk, fit_s, epochs, per_fold, alerts = np.zeros(y.size), [], [], [], []
        for train, test in folds:
            t0 = time.perf_counter()
            config = GrudConfig(hours=hours, threads=args.threads)
            model = GrudForecaster(config).fit([records[i] for i in train], y[train])
            fit_s.append(time.perf_counter() - t0)
            epochs.append(model.epochs_run)
            risk[test] = model.predict_proba([records[i] for i in test])
            per_fold.append(risk_metrics(y[test], risk[test]))
            assert model.alert is not None
            alerts.append(apply_policy(model.alert.threshold, y[test], risk[test], 0.8))
        pooled = risk_metrics(y, risk)
        for key in KEYS:
            vals = [f[key] for f in per_fold]
            pooled[f"{key}_fold_mean"], pooled[f"{key}_fold_std"] = np.mean(vals), np.std(vals)
        pooled["fit_s_per_fold"] = float(np.mean(fit_s))
        pooled["epochs_mean"] = float(np.mean(epochs))
        pooled["alert_sensitivity"] = float(np.mean([a.sensitivity for a in alerts]))
        pooled["alerts_per_100"] = float(np.mean([a.alerts_per_100 for a in alerts]))
        results[f"grud_{hours}h"] = pooled
        news = next(iter(score_columns(records, rows, hours).values()))
        ok = np.isfinite(news)
        results[f"news2_worst_{hours}h"] = {
            "n": int(ok.sum()),
            "auroc": auroc(y[ok], news[ok]),
            "auprc": auprc(y[ok], news[ok]),
        }
    t1 = time.perf_counter()
    GrudForecaster(GrudConfig(hours=48, threads=args.threads)).fit(records, y)
    timing["train_all_48h_s"] = round(time.perf_counter() - t1, 1)
    timing["train_all_48h_with_load_s"] = round(timing["train_all_48h_s"] + timing["load_s"], 1)

    print(
        f"PhysioNet 2012 set-a-dev: n={y.size}, deaths={int(y.sum())}, "
        f"{args.folds}-fold patient-disjoint CV (pooled out-of-fold; fold mean +- std)\n"
    )
    print("| model | AUROC | AUPRC | Brier | ECE |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        if "auroc_fold_mean" in r:
            cells = [
                f"{r[k]:.3f} ({r[k + '_fold_mean']:.3f} +- {r[k + '_fold_std']:.3f})" for k in KEYS
            ]
        else:
            cells = [f"{r['auroc']:.3f}", f"{r['auprc']:.3f}", "-", "-"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    for hours in (48, 24):
        r = results[f"grud_{hours}h"]
        print(
            f"\n{hours} h alert policy (80% sensitivity target, threshold from inner "
            f"validation): sensitivity {r['alert_sensitivity']:.2f}, "
            f"{r['alerts_per_100']:.1f} alerts per 100 patients; fit {r['fit_s_per_fold']:.1f} s "
            f"per fold ({r['epochs_mean']:.1f} epochs)"
        )
    print(f"\ntiming: {json.dumps(timing)}")
    if args.json_out:
        args.json_out.write_text(json.dumps({"results": results, "timing": timing}, indent=2))


if __name__ == "__main__":
    main()
