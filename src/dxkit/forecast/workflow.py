"""Train, evaluate and predict from files: what the CLI and benchmark call.

Why here: the CLI stays a thin layer over typed functions, and the benchmark measures
exactly what users run. Clinical scores from the outcomes file (SAPS-I, SOFA) are
reported beside the model: discrimination directly, and Brier/ECE after a logistic map
fitted out-of-fold (5-fold cross-fitting), so the anchors are judged as fairly as the
model and never on the rows they were fitted on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dxkit.errors import InputError
from dxkit.forecast.base import load_forecaster
from dxkit.forecast.metrics import apply_policy, auprc, auroc, brier, ece, risk_metrics
from dxkit.forecast.physionet import Outcome, load_physionet, read_outcomes
from dxkit.forecast.series import TimeSeriesRecord


def with_outcomes(
    records: Sequence[TimeSeriesRecord], outcomes: dict[str, Outcome]
) -> tuple[list[TimeSeriesRecord], np.ndarray, list[Outcome]]:
    """Records that have an outcome, their 0/1 deaths and outcome rows.

    Raises:
        InputError: no record id appears in the outcomes file.
    """
    kept = [r for r in records if r.record_id in outcomes]
    if not kept:
        raise InputError(
            "records and outcomes",
            expected="record ids that appear in the outcomes file",
            found=f"{len(records)} records, none with an outcome",
            fix="pass the outcomes file that belongs to this data set",
        )
    rows = [outcomes[r.record_id] for r in kept]
    return kept, np.array([o.death for o in rows]), rows


def warning_counts(records: Sequence[TimeSeriesRecord]) -> dict[str, int]:
    """Data-quality warnings by code over all records (for summaries and JSON)."""
    return dict(sorted(Counter(w.code for r in records for w in r.warnings).items()))


def score_metrics(y: np.ndarray, score: np.ndarray, seed: int = 0) -> dict[str, float]:
    """AUROC/AUPRC of a raw clinical score, Brier/ECE after an out-of-fold logistic map.

    Stays without the score (NaN) are left out and counted in ``n``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    ok = np.isfinite(score)
    yy, s = y[ok], score[ok]
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    risk = cross_val_predict(
        LogisticRegression(), s[:, None], yy, cv=folds, method="predict_proba"
    )[:, 1]
    return {
        "n": int(ok.sum()),
        "auroc": auroc(yy, s),
        "auprc": auprc(yy, s),
        "brier": brier(yy, risk),
        "ece": ece(yy, risk),
    }


def train_forecast(
    data: Path, outcomes: Path, out: Path, config: Any, *, limit: int | None = None
) -> dict[str, Any]:
    """Load, train the forecaster ``config`` describes, save it; return a summary.

    A :class:`~dxkit.forecast.grud.GrudConfig` trains the recurrent GRU-D model; any
    other config (a :class:`~dxkit.forecast.gbm.GbmConfig`) the boosting model.
    """
    import time

    from dxkit.forecast.gbm import GbmForecaster
    from dxkit.forecast.grud import GrudConfig, GrudForecaster

    records, y, _ = with_outcomes(load_physionet(data, limit=limit), read_outcomes(outcomes))
    start = time.perf_counter()
    model: GbmForecaster | GrudForecaster
    if isinstance(config, GrudConfig):
        model = GrudForecaster(config).fit(records, y)
    else:
        model = GbmForecaster(config).fit(records, y)
    seconds = time.perf_counter() - start
    model.save(out)
    return {
        "n": len(records),
        "deaths": int(y.sum()),
        "hours": model.hours,
        "train_seconds": round(seconds, 1),
        "validation": model.validation,
        "risk_now_validation": getattr(model, "now_validation", None),
        "alert": model.alert.describe() if model.alert else None,
        "warnings": warning_counts(records),
        "out": str(out),
    }


def evaluate_forecast(
    model_dir: Path, data: Path, outcomes: Path, *, limit: int | None = None
) -> dict[str, Any]:
    """Metrics of a saved forecaster on labelled data, with SAPS-I and SOFA beside it."""
    model = load_forecaster(model_dir)
    records, y, rows = with_outcomes(load_physionet(data, limit=limit), read_outcomes(outcomes))
    risk = model.predict_proba(records)
    result: dict[str, Any] = {"hours": model.hours, **risk_metrics(y, risk)}
    if model.alert is not None:
        policy = apply_policy(model.alert.threshold, y, risk, model.alert.target_sensitivity)
        result["alert"] = policy.to_dict()
    for name, attr in (("saps_i", "saps"), ("sofa", "sofa")):
        result[name] = score_metrics(y, np.array([getattr(o, attr) for o in rows]))
    result["warnings"] = warning_counts(records)
    return result


def predict_forecast(
    model_dir: Path, data: Path, *, record: str | None = None, top: int = 5
) -> list[dict[str, Any]]:
    """Risk, hourly risk-now curve and top signals for each record (or the one asked for).

    Raises:
        InputError: ``record`` is not in the data.
    """
    from dxkit.forecast.explain import top_signals
    from dxkit.forecast.gbm import GbmForecaster
    from dxkit.forecast.grud import GrudForecaster

    model = load_forecaster(model_dir)
    records = load_physionet(data)
    if record is not None:
        records = [r for r in records if r.record_id == record]
        if not records:
            raise InputError(
                "--record",
                expected="a RecordID present in --data",
                found=repr(record),
                fix="check the id (file name without .txt)",
            )
    answers = []
    risks = model.predict_proba(records)
    for rec, risk in zip(records, risks, strict=True):
        answer: dict[str, Any] = {
            "record_id": rec.record_id,
            "hours": model.hours,
            "risk": round(float(risk), 4),
            "alert": bool(model.alert and risk >= model.alert.threshold),
            "risk_now": [round(float(r), 4) for r in model.risk_curve(rec)],
        }
        if isinstance(model, GbmForecaster):
            answer["top_signals"] = [c.to_dict() for c in top_signals(model, rec, top=top)]
        elif isinstance(model, GrudForecaster):
            answer["top_signals"] = [c.to_dict() for c in model.top_signals(rec, top=top)]
        answer["warnings"] = [w.message for w in rec.warnings]
        answers.append(answer)
    return answers
