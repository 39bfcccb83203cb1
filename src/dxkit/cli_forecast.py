"""``dxkit forecast train|evaluate|predict``: deterioration risk from bedside series.

Kept apart from :mod:`dxkit.cli` so scikit-learn and the forecasting stage load only
for these commands. Errors are :class:`~dxkit.errors.DxkitError`, which the dxkit entry
point prints as one line with exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

DataOpt = Annotated[Path, typer.Option("--data", help="PhysioNet 2012 directory or .tgz/.tar.gz")]
OutcomesOpt = Annotated[Path, typer.Option("--outcomes", help="Outcomes-a.txt style CSV")]
LimitOpt = Annotated[int | None, typer.Option("--limit", help="read only the first N records")]

forecast_app = typer.Typer(
    help="Deterioration forecasting (in-hospital death) from bedside time series.",
    no_args_is_help=True,
)


@forecast_app.command("train")
def train(
    data: DataOpt,
    outcomes: OutcomesOpt,
    out: Annotated[Path, typer.Option("--out", help="directory for the saved model")],
    hours: Annotated[int, typer.Option(help="prediction time: use data up to this hour")] = 48,
    sensitivity: Annotated[
        float, typer.Option(help="alert policy: sensitivity to reach on validation")
    ] = 0.8,
    seed: Annotated[int, typer.Option(help="random seed of the split and the trees")] = 0,
    threads: Annotated[int, typer.Option(help="CPU threads for boosting")] = 1,
    calibration: Annotated[
        str, typer.Option(help="risk calibration: isotonic, or platt for small data sets")
    ] = "isotonic",
    engine: Annotated[
        str, typer.Option(help="boosting library: auto (LightGBM if installed), lightgbm, sklearn")
    ] = "auto",
    risk_now: Annotated[
        bool, typer.Option(help="also train the multi-cut model behind the risk-now curve")
    ] = True,
    model: Annotated[
        str, typer.Option(help="gbm (gradient boosting, default) or grud (recurrent GRU-D)")
    ] = "gbm",
    limit: LimitOpt = None,
) -> None:
    """Train a forecaster, calibrate it and choose the alert threshold."""
    from dxkit.errors import InputError
    from dxkit.forecast.gbm import GbmConfig
    from dxkit.forecast.grud import GrudConfig
    from dxkit.forecast.workflow import train_forecast

    config: GbmConfig | GrudConfig
    if model == "gbm":
        config = GbmConfig(
            hours=hours,
            alert_sensitivity=sensitivity,
            seed=seed,
            threads=threads,
            calibration=calibration,
            engine=engine,
            now_model=risk_now,
        )
    elif model == "grud":
        config = GrudConfig(hours=hours, alert_sensitivity=sensitivity, seed=seed, threads=threads)
    else:
        raise InputError(
            "--model", expected="gbm or grud", found=repr(model), fix="pass --model gbm or grud"
        )
    summary = train_forecast(data, outcomes, out, config, limit=limit)
    valid = summary["validation"]
    print(
        f"trained on {summary['n']} records ({summary['deaths']} deaths), {hours} h, "
        f"in {summary['train_seconds']} s; validation AUROC {valid['auroc']:.3f}, "
        f"AUPRC {valid['auprc']:.3f}, ECE {valid['ece']:.3f}"
    )
    now = summary.get("risk_now_validation")
    if now:
        print(f"risk-now model (all cuts, held-out stays): AUROC {now['auroc']:.3f}")
    print(summary["alert"])
    warnings = ", ".join(f"{k} {v}" for k, v in summary["warnings"].items()) or "none"
    print(f"data-quality warnings: {warnings}")
    print(f"saved to {out}")


@forecast_app.command("evaluate")
def evaluate(
    model_dir: Annotated[Path, typer.Argument(help="directory written by `forecast train`")],
    data: DataOpt,
    outcomes: OutcomesOpt,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    limit: LimitOpt = None,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="also write an HTML report: ROC/PR against scores, timelines"),
    ] = None,
) -> None:
    """Score a saved forecaster against outcomes, beside the SAPS-I and SOFA columns."""
    from dxkit.forecast.workflow import evaluate_forecast

    if html is not None:  # a bad --html fails before minutes of scoring, not after
        from dxkit.report.html import check_output_file

        check_output_file(html, "--html")
    result = evaluate_forecast(model_dir, data, outcomes, limit=limit)
    if html is not None:
        from dxkit.forecast.report import report_for_model

        report_for_model(html, model_dir, data, outcomes, limit=limit)
    if as_json:
        print(json.dumps(result))
        return
    if html is not None:
        print(f"report written to {html}")
    print(f"n {result['n']}, {result['hours']} h model")
    for name, row in (("model", result), ("SAPS-I", result["saps_i"]), ("SOFA", result["sofa"])):
        print(
            f"{name:7s} AUROC {row['auroc']:.3f}  AUPRC {row['auprc']:.3f}  "
            f"Brier {row['brier']:.3f}  ECE {row['ece']:.3f}"
        )
    if "alert" in result:
        alert = result["alert"]
        print(
            f"alert threshold {alert['threshold']:.3f}: sensitivity {alert['sensitivity']:.2f}, "
            f"{alert['alerts_per_100']:.1f} alerts per 100 patients"
        )


@forecast_app.command("predict")
def predict(
    model_dir: Annotated[Path, typer.Argument(help="directory written by `forecast train`")],
    data: DataOpt,
    record: Annotated[str | None, typer.Option("--record", help="only this RecordID")] = None,
    top: Annotated[int, typer.Option(help="top contributing signals listed")] = 5,
) -> None:
    """Print risk, the hourly risk-now curve and top signals as JSON lines, one per record."""
    from dxkit.forecast.workflow import predict_forecast

    for answer in predict_forecast(model_dir, data, record=record, top=top):
        print(json.dumps(answer))


def register(app: typer.Typer) -> None:
    """Add the ``dxkit forecast`` command group to the dxkit app."""
    app.add_typer(forecast_app, name="forecast")
