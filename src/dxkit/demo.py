"""``dxkit demo``: the whole pipeline on the embedded synthetic cohort, in minutes.

Generate a cohort from the knowledge base, check its quality, split it by patient,
train the default model, evaluate it on the held-out patients, and diagnose three
example cases (one in Chinese, one with an out-of-range device reading).
"""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path

from rich.console import Console

from dxkit.cases.schema import Case
from dxkit.models.base import atomic_write_text

EXAMPLES = ("chest_pain_en.json", "child_fever_zh.json", "low_spo2_device.json")


def example_cases() -> list[Case]:
    """The three shipped example cases."""
    folder = resources.files("dxkit.resources").joinpath("examples")
    return [Case.model_validate_json(folder.joinpath(name).read_text("utf-8")) for name in EXAMPLES]


def run_demo(out: Path, *, n: int = 3000, console: Console) -> dict[str, object]:
    """Run the demo, write its outputs under ``out`` and return the test metrics."""
    from dxkit.cases.io import write_jsonl
    from dxkit.cases.synthetic import CohortConfig, NoiseConfig, generate_cohort
    from dxkit.pipeline import evaluate_model, fit_model
    from dxkit.quality.report import quality_report
    from dxkit.render import metrics_table, print_differential
    from dxkit.report.diagnose import diagnose
    from dxkit.train.splits import train_val_test_split

    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    config = CohortConfig(n=n, seed=20261123, noise=NoiseConfig(implausible_rate=0.005))
    with console.status(f"generating a synthetic cohort of {n} cases"):
        cohort = generate_cohort(config)
    write_jsonl(out / "cohort.jsonl", cohort)
    report = quality_report([lc.case for lc in cohort], [lc.label for lc in cohort])
    quality = report.to_dict()
    console.print(
        f"[bold]1. cohort[/]: {len(cohort)} cases, {len({lc.label for lc in cohort})} "
        f"conditions -> {out / 'cohort.jsonl'}; rejected by validation: "
        f"{quality.get('n_rejected', '?')}"
    )
    split = train_val_test_split(cohort, val=0.0, test=0.2, seed=0)
    fit_started = time.perf_counter()
    model, dropped = fit_model("tfidf", split.train, seed=0, console=console, soft=False)
    fit_seconds = time.perf_counter() - fit_started
    model.save(out / "model")
    from dxkit.models.default import default_model_dir

    installed = default_model_dir()
    if not (installed / "dxkit-model.json").is_file():
        model.save(installed)  # `dxkit diagnose` then starts without training again
    console.print(
        f"[bold]2. model[/]: TF-IDF + logistic regression on {len(split.train) - dropped} "
        f"cases (10% of them held out for temperature scaling) in {fit_seconds:.1f}s "
        f"-> {out / 'model'} (default model for `dxkit diagnose`: {installed})"
    )
    calibration = getattr(model, "report", None)
    if calibration:
        console.print(
            f"   calibration: T={getattr(model, 'temperature', 1.0):.2f}, ECE "
            f"{calibration['ece_before']:.3f} -> {calibration['ece_after']:.3f} on the "
            "held-out cases"
        )
    metrics = evaluate_model(model, split.test, console=console)
    metrics["train_seconds"] = round(fit_seconds, 2)
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2, ensure_ascii=False))
    keys = ["n", "top1", "top3", "top5", "macro_f1", "ece", "brier", "gtpa1", "ddf1"]
    keys += ["coverage", "mean_set_size", "abstain_rate"]
    console.print(metrics_table("3. held-out patients (20%)", metrics, keys))
    console.print("[bold]4. example cases[/]")
    answers = diagnose(model, example_cases(), top=5, evidence=3)
    for answer in answers:
        print_differential(console, answer)
    lines = "\n".join(a.model_dump_json() for a in answers) + "\n"
    atomic_write_text(out / "differentials.jsonl", lines)
    console.print(
        f"outputs in {out}/: cohort.jsonl, model/, metrics.json, differentials.jsonl "
        f"({time.perf_counter() - started:.0f}s)"
    )
    return metrics
