"""Deterioration forecasting on PhysioNet 2012 set-a-dev: patient-disjoint 5-fold CV.

Each PhysioNet record is one ICU stay of one patient, so folds split by RecordID are
patient-disjoint. Per fold the boosting forecaster trains on 4/5 and is scored on the
held-out fifth: the dedicated 48 h and 24 h models (calibration and alert threshold on
inner out-of-fold risks), the same 48 h model with Platt instead of isotonic calibration,
and the risk-now model (trained on every training stay at cuts 2, 4, 6, 12, ... 48 h),
scored at the 24 h and 48 h cuts. Model settings were fixed beforehand on fold 1's inner
validation split, never on a test fold. SAPS-I and SOFA (from the outcomes file) are
scored on the same folds: AUROC/AUPRC on the raw score; Brier/ECE after a logistic map
fitted on the training folds. Metrics are pooled over the out-of-fold predictions; fold
mean +- std is shown too. Risk-now smoothness is the mean absolute hour-to-hour change
of the 48-point curve of every test stay, for the risk-now model and for the dedicated
48 h model applied at each hour (the previous approach).

    .venv/bin/python benchmarks/forecast.py                 # full run, ~20 min on 2 shared cores
    .venv/bin/python benchmarks/forecast.py --limit 600     # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from dxkit.forecast.features import feature_matrix, multi_cut_matrix, summarise_at
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


def _summary(
    y: np.ndarray, risk: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]
) -> dict[str, Any]:
    pooled: dict[str, Any] = risk_metrics(y, risk)
    per_fold = [risk_metrics(y[test], risk[test]) for _, test in folds]
    for key in ("auroc", "auprc", "brier", "ece"):
        vals = [f[key] for f in per_fold]
        pooled[f"{key}_fold_mean"], pooled[f"{key}_fold_std"] = np.mean(vals), np.std(vals)
    pooled["ece_per_fold"] = [round(f["ece"], 3) for f in per_fold]
    return pooled


def _curves(model: GbmForecaster, records: list[Any], hours: int) -> tuple[np.ndarray, ...]:
    """(stays, hours) risk-now curves of the risk-now model and of the dedicated model."""
    rows = np.vstack([summarise_at(r, np.arange(1, hours + 1, dtype=float)) for r in records])
    now = model.predict_now_features(rows).reshape(len(records), hours)
    dedicated = model.predict_features(rows).reshape(len(records), hours)
    return now, dedicated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "set-a-dev.tar.gz")
    parser.add_argument("--outcomes", type=Path, default=ROOT / "Outcomes-a-dev.txt")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}", flush=True)

    start = time.perf_counter()
    records, y, rows = with_outcomes(
        load_physionet(args.data, limit=args.limit), read_outcomes(args.outcomes)
    )
    load_s = time.perf_counter() - start
    splitter = StratifiedKFold(args.folds, shuffle=True, random_state=0)
    folds = list(splitter.split(np.zeros(y.size), y))
    timing: dict[str, float] = {"load_s": round(load_s, 1)}
    t0 = time.perf_counter()
    x = {hours: feature_matrix(records, float(hours)) for hours in (48, 24)}
    cuts = GbmConfig(hours=48).now_cuts()
    x_now, _ = multi_cut_matrix(records, cuts)
    x_now = x_now.reshape(len(records), len(cuts), -1)  # (stays, cuts, F)
    timing["features_s"] = round(time.perf_counter() - t0, 1)
    names = ("gbm_48h", "gbm_24h", "gbm_48h_platt", "now_at_48h", "now_at_24h")
    risk = {name: np.zeros(y.size) for name in names}
    fit_s: dict[str, list[float]] = {name: [] for name in ("gbm_48h", "gbm_24h", "now")}
    alerts: dict[int, list[Any]] = {48: [], 24: []}
    jumps: dict[str, list[np.ndarray]] = {"now": [], "dedicated": []}
    for train, test in folds:
        for hours, calibration, name in ((48, "isotonic", "gbm_48h"), (24, "isotonic", "gbm_24h"),
                                         (48, "platt", "gbm_48h_platt")):  # fmt: skip
            t1 = time.perf_counter()
            config = GbmConfig(hours=hours, calibration=calibration)
            model = GbmForecaster(config).fit_features(x[hours][train], y[train])
            if name in fit_s:
                fit_s[name].append(time.perf_counter() - t1)
            risk[name][test] = model.predict_features(x[hours][test])
            if calibration == "isotonic":
                assert model.alert is not None
                alerts[hours].append(
                    apply_policy(model.alert.threshold, y[test], risk[name][test], 0.8)
                )
            if name == "gbm_48h":
                dedicated48 = model
        t1 = time.perf_counter()
        dedicated48.fit_now_features(
            x_now[train].reshape(-1, x_now.shape[2]), np.repeat(y[train], len(cuts)),
            np.repeat(train, len(cuts)),
        )  # fmt: skip
        fit_s["now"].append(time.perf_counter() - t1)
        for hours in (48, 24):
            risk[f"now_at_{hours}h"][test] = dedicated48.predict_now_features(
                x_now[test, cuts.index(float(hours))]
            )
        now, dedicated = _curves(dedicated48, [records[i] for i in test], 48)
        jumps["now"].append(np.abs(np.diff(now, axis=1)))
        jumps["dedicated"].append(np.abs(np.diff(dedicated, axis=1)))
    results: dict[str, dict[str, Any]] = {name: _summary(y, risk[name], folds) for name in names}
    results["saps_i"] = _score_oof(np.array([o.saps for o in rows]), y, folds)
    results["sofa"] = _score_oof(np.array([o.sofa for o in rows]), y, folds)
    for name, vals in fit_s.items():
        timing[f"fit_{name}_s_per_fold"] = round(float(np.mean(vals)), 1)
    t2 = time.perf_counter()
    GbmForecaster(GbmConfig(hours=48)).fit(records, y)  # features + dedicated + risk-now
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
    print("\nECE per fold: " + "; ".join(
        f"{n} {results[n]['ece_per_fold']}" for n in names
    ))  # fmt: skip
    for hours in (48, 24):
        pol = alerts[hours]
        print(
            f"{hours} h alert policy (80% sensitivity target, threshold from inner "
            f"validation): sensitivity {np.mean([a.sensitivity for a in pol]):.2f}, "
            f"{np.mean([a.alerts_per_100 for a in pol]):.1f} alerts per 100 patients"
        )
    for kind, parts in jumps.items():
        j = np.concatenate(parts)  # (stays, 47)
        print(
            f"risk-now curve ({kind} model, 48 points per stay): mean |hour-to-hour change| "
            f"{j.mean():.4f}, median stay's max jump {np.median(j.max(axis=1)):.3f}, "
            f"95th pct of jumps {np.quantile(j, 0.95):.3f}"
        )
    print(f"\ntiming: {json.dumps(timing)}")
    print(f"load average at end: {os.getloadavg()}")
    if args.json_out:
        args.json_out.write_text(
            json.dumps({"results": results, "timing": timing}, indent=2, default=float)
        )


if __name__ == "__main__":
    main()
