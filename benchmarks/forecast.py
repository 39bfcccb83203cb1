"""Deterioration forecasting on PhysioNet 2012 set-a-dev: patient-disjoint 5-fold CV.

Each PhysioNet record is one ICU stay of one patient, so folds split by RecordID are
patient-disjoint. Per fold the boosting forecaster trains on 4/5 (calibrating and
choosing its alert threshold on an inner 20 % split of that) and is scored on the
held-out fifth. SAPS-I and SOFA (from the outcomes file) are scored on the same folds:
AUROC/AUPRC on the raw score; Brier/ECE after a logistic map fitted on the training
folds. Metrics are pooled over the out-of-fold predictions; fold mean +- std is shown too.

    .venv/bin/python benchmarks/forecast.py                 # full run, ~3-4 min on 2 cores
    .venv/bin/python benchmarks/forecast.py --limit 600     # smoke run
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from dxkit.forecast.features import feature_matrix
from dxkit.forecast.gbm import GbmConfig, GbmForecaster
from dxkit.forecast.metrics import apply_policy, auprc, auroc, brier, ece, risk_metrics
from dxkit.forecast.physionet import load_physionet, read_outcomes
from dxkit.forecast.workflow import with_outcomes

ROOT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "physionet2012_seta"


def _score_oof(
    score: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]
) -> dict[str, float]:
    ok = np.isfinite(score)
    risk = np.full(y.size, np.nan)
    for train, test in folds:
        tr, te = train[ok[train]], test[ok[test]]
        fit = LogisticRegression().fit(score[tr, None], y[tr])
        risk[te] = fit.predict_proba(score[te, None])[:, 1]
    return {
        "n": int(ok.sum()),
        "auroc": auroc(y[ok], score[ok]),
        "auprc": auprc(y[ok], score[ok]),
        "brier": brier(y[ok], risk[ok]),
        "ece": ece(y[ok], risk[ok]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "set-a-dev.tar.gz")
    parser.add_argument("--outcomes", type=Path, default=ROOT / "Outcomes-a-dev.txt")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args()

    start = time.perf_counter()
    records, y, rows = with_outcomes(
        load_physionet(args.data, limit=args.limit), read_outcomes(args.outcomes)
    )
    load_s = time.perf_counter() - start
    splitter = StratifiedKFold(args.folds, shuffle=True, random_state=0)
    folds = list(splitter.split(np.zeros(y.size), y))
    results: dict[str, dict[str, float]] = {}
    timing: dict[str, float] = {"load_s": round(load_s, 1)}
    for hours in (48, 24):
        t0 = time.perf_counter()
        x = feature_matrix(records, float(hours))
        timing[f"features_{hours}h_s"] = round(time.perf_counter() - t0, 1)
        risk, fit_s, per_fold, alerts = np.zeros(y.size), [], [], []
        for train, test in folds:
            t1 = time.perf_counter()
            model = GbmForecaster(GbmConfig(hours=hours)).fit_features(x[train], y[train])
            fit_s.append(time.perf_counter() - t1)
            risk[test] = model.predict_features(x[test])
            per_fold.append(risk_metrics(y[test], risk[test]))
            assert model.alert is not None
            alerts.append(apply_policy(model.alert.threshold, y[test], risk[test], 0.8))
        pooled = risk_metrics(y, risk)
        for key in ("auroc", "auprc", "brier", "ece"):
            vals = [f[key] for f in per_fold]
            pooled[f"{key}_fold_mean"], pooled[f"{key}_fold_std"] = np.mean(vals), np.std(vals)
        pooled["fit_s_per_fold"] = float(np.mean(fit_s))
        pooled["alert_sensitivity"] = float(np.mean([a.sensitivity for a in alerts]))
        pooled["alerts_per_100"] = float(np.mean([a.alerts_per_100 for a in alerts]))
        results[f"gbm_{hours}h"] = pooled
    results["saps_i"] = _score_oof(np.array([o.saps for o in rows]), y, folds)
    results["sofa"] = _score_oof(np.array([o.sofa for o in rows]), y, folds)
    full_fit = GbmForecaster(GbmConfig(hours=48))
    t2 = time.perf_counter()
    full_fit.fit_features(feature_matrix(records, 48.0), y)
    timing["train_all_48h_s"] = round(time.perf_counter() - t2, 1)
    timing["train_all_48h_with_load_s"] = round(timing["train_all_48h_s"] + load_s, 1)

    print(
        f"PhysioNet 2012 set-a-dev: n={y.size}, deaths={int(y.sum())}, "
        f"{args.folds}-fold patient-disjoint CV (pooled out-of-fold; fold mean +- std)\n"
    )
    print("| model | AUROC | AUPRC | Brier | ECE |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        if "auroc_fold_mean" in r:
            cells = [
                f"{r[k]:.3f} ({r[k + '_fold_mean']:.3f} +- {r[k + '_fold_std']:.3f})"
                for k in ("auroc", "auprc", "brier", "ece")
            ]
        else:
            cells = [f"{r[k]:.3f}" for k in ("auroc", "auprc", "brier", "ece")]
        print(f"| {name} | " + " | ".join(cells) + " |")
    for hours in (48, 24):
        r = results[f"gbm_{hours}h"]
        print(
            f"\n{hours} h alert policy (80% sensitivity target, threshold from inner "
            f"validation): sensitivity {r['alert_sensitivity']:.2f}, "
            f"{r['alerts_per_100']:.1f} alerts per 100 patients; fit {r['fit_s_per_fold']:.1f} s "
            "per fold"
        )
    print(f"\ntiming: {json.dumps(timing)}")
    if args.json_out:
        args.json_out.write_text(json.dumps({"results": results, "timing": timing}, indent=2))


if __name__ == "__main__":
    main()
