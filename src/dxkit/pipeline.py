"""Glue between the CLI and the stages: load data, validate, fit, score, pick a model.

Kept out of ``cli.py`` so the same steps are callable from Python and from tests.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

from dxkit.cases.schema import Case, LabeledCase, Observation, age_band
from dxkit.errors import InputError
from dxkit.models.base import DiagnosisModel

MODEL_KINDS = ("tfidf", "rnn", "encoder")
_OBS_PATTERN = re.compile(r"^\s*([0-9]{1,7}-[0-9])\s*=\s*(-?[0-9]+(?:\.[0-9]+)?)\s+(\S+)\s*$")


def load_training_data(
    data: Path | None,
    fmt: str,
    *,
    n: int,
    seed: int,
    limit: int | None,
    console: Console,
    deidentify: bool = True,
) -> list[LabeledCase]:
    """Labelled cases from ``data`` in ``fmt``, or a synthetic cohort when no path.

    Cases read from a file are de-identified (tags) before anything else sees them,
    unless ``deidentify`` is False; synthetic cases carry no identifiers.
    """
    if data is None:
        from dxkit.cases.synthetic import CohortConfig, generate_cohort

        if n < 1:
            raise InputError("--n", expected="an integer >= 1", found=str(n), fix="pass --n 3000")
        with console.status(f"generating a synthetic cohort of {n} cases (seed {seed})"):
            labeled = generate_cohort(CohortConfig(n=n, seed=seed))
    else:
        from dxkit.cases.io import load_labeled

        with console.status(f"reading {data}"):
            labeled = load_labeled(data, fmt, limit=limit)
    if limit is not None:
        labeled = labeled[:limit]
    if not labeled:
        raise InputError(
            "data", expected="at least one labelled case", found="none", fix="check --data"
        )
    if deidentify:
        from dxkit.deid.cases import deidentify_for_pipeline

        labeled = deidentify_for_pipeline(labeled, console=console)
    return labeled


def keep_valid(labeled: Sequence[LabeledCase]) -> tuple[list[LabeledCase], int]:
    """Validated copies (canonical units) of the cases that pass, and how many failed."""
    from dxkit.quality.validate import validate_case

    kept: list[LabeledCase] = []
    for lc in labeled:
        try:
            kept.append(lc.model_copy(update={"case": validate_case(lc.case).case}))
        except InputError:
            continue
    return kept, len(labeled) - len(kept)


def new_model(kind: str, seed: int, epochs: int | None = None) -> DiagnosisModel:
    """An untrained model of ``kind`` with its default configuration.

    ``epochs`` caps the passes of the neural models (TF-IDF has none and ignores it).
    """
    if epochs is not None and epochs < 1:
        raise InputError("--epochs", expected="an integer >= 1", found=str(epochs), fix="e.g. 3")
    passes: dict[str, Any] = {"epochs": epochs} if epochs is not None else {}
    if kind == "tfidf":
        from dxkit.models.tfidf import TfidfConfig, TfidfModel

        return TfidfModel(TfidfConfig())
    if kind == "rnn":
        from dxkit.models.rnn import RnnConfig, RnnModel

        return RnnModel(RnnConfig(seed=seed, **passes))
    if kind == "encoder":
        from dxkit.models.encoder import EncoderModel
        from dxkit.models.encoder_config import EncoderConfig

        return EncoderModel(EncoderConfig(seed=seed, **passes))
    raise InputError(
        "--model", expected=" | ".join(MODEL_KINDS), found=repr(kind), fix="pass --model tfidf"
    )


def fit_model(
    kind: str,
    labeled: Sequence[LabeledCase],
    *,
    seed: int,
    console: Console,
    soft: bool = True,
    calibrate: bool = True,
    augment_factor: int = 1,
    alpha: float = 0.1,
    epochs: int | None = None,
) -> tuple[DiagnosisModel, int]:
    """Validate, then fit a new model, then calibrate its temperature.

    With ``soft`` the reference differentials (where the data has them) are soft targets;
    they teach the model a differential but make the TF-IDF fit several times slower.
    With ``calibrate`` (and at least 200 valid cases) 10% of the patients are held out,
    the model is fitted on the rest and its temperature fitted on them.
    ``augment_factor`` > 1 adds paraphrased / evidence-dropout copies of the training
    cases (after the calibration split, so no copy of a held-out patient is trained on).
    ``alpha`` is the error rate of the conformal prediction sets fitted on the held-out
    cases; a held-out set too small for it is an error before any training.
    """
    model = new_model(kind, seed, epochs)
    kept, dropped = keep_valid(labeled)
    if not kept:
        raise InputError(
            "training data",
            expected="cases that pass validation",
            found=f"all {len(labeled)} cases rejected",
            fix="run `dxkit check FILE` to see why",
        )
    held_out: list[LabeledCase] = []
    if calibrate and len(kept) >= 200:
        from dxkit.train.splits import train_val_test_split

        split = train_val_test_split(kept, val=0.1, test=0.0, seed=seed)
        kept, held_out = split.train, split.val
        check_calibration_size(len(held_out), alpha)
    if augment_factor > 1:
        from dxkit.train.augment import augment

        kept = augment(kept, factor=augment_factor, seed=seed)
    differentials = [lc.differential for lc in kept]
    targets = differentials if soft and any(d for d in differentials) else None
    with console.status(f"training {kind} on {len(kept)} cases"):
        model.fit([lc.case for lc in kept], [lc.label for lc in kept], differentials=targets)
    if held_out:
        from dxkit.calibrate.temperature import CalibratedModel

        with console.status(f"calibrating on {len(held_out)} held-out cases"):
            model = CalibratedModel.calibrate(
                model, [lc.case for lc in held_out], [lc.label for lc in held_out], alpha=alpha
            )
    return model, dropped


def check_calibration_size(n_cases: int, alpha: float) -> None:
    """Refuse a calibration set on which a 1 - alpha conformal set cannot be guaranteed.

    Split conformal needs at least ``ceil(1 / alpha) - 1`` calibration cases for a finite
    quantile; fewer would give every case the set of all conditions.
    """
    from dxkit.calibrate.conformal import check_alpha, min_calibration_cases

    check_alpha(alpha)
    needed = min_calibration_cases(alpha)
    if n_cases < needed:
        raise InputError(
            "--alpha",
            expected=f"at least {needed} held-out calibration cases for alpha {alpha}",
            found=f"{n_cases} held-out cases (10% of the valid training cases)",
            fix=f"use a larger alpha (>= {1 / (n_cases + 1):.3g}) or more training data",
        )


def predict_batched(
    model: DiagnosisModel, cases: Sequence[Case], console: Console, batch: int = 256
) -> Any:
    """predict_proba in batches with a progress bar (evaluation of large files)."""
    import numpy as np

    parts = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("predicting", total=len(cases))
        for start in range(0, len(cases), batch):
            parts.append(model.predict_proba(cases[start : start + batch]))
            progress.advance(task, len(parts[-1]))
    return np.concatenate(parts) if parts else np.zeros((0, len(model.labels)))


def evaluate_model(
    model: DiagnosisModel, labeled: Sequence[LabeledCase], *, console: Console
) -> dict[str, Any]:
    """All metrics of ``model`` on ``labeled`` (invalid cases counted, not scored)."""
    from dxkit.evaluate.summary import evaluate_predictions

    kept, dropped = keep_valid(labeled)
    cases = [lc.case for lc in kept]
    proba = predict_batched(model, cases, console)
    reference = [lc.differential for lc in kept]
    metrics = evaluate_predictions(
        proba,
        list(model.labels),
        [lc.label for lc in kept],
        reference=reference if any(r for r in reference) else None,
        sex=[c.sex.value for c in cases],
        age_band=[age_band(c.age) for c in cases],
    )
    metrics["n_rejected"] = dropped
    temperature = getattr(model, "temperature", None)
    if temperature is not None and any(r for r in reference):
        metrics.update(uncalibrated_differential(proba, float(temperature), model, kept))
    report = getattr(model, "report", None)  # CalibratedModel: ECE/NLL on its own held-out set
    if isinstance(report, dict):
        metrics.update({k: report[k] for k in ("ece_before", "nll_before") if k in report})
    conformal = getattr(model, "conformal", None)
    if conformal is not None and cases:
        metrics.update(conformal_metrics(model, proba, kept))
    return metrics


def uncalibrated_differential(
    proba: Any, temperature: float, model: DiagnosisModel, labeled: Sequence[LabeledCase]
) -> dict[str, float]:
    """DDR / DDP / DDF1 of the differential *before* temperature scaling.

    Why both: a model trained on reference differentials spreads probability over every
    condition still plausible, which is what DDF1 rewards, while its top answer is right
    far more often than that spread says. Temperature scaling fixes the second (ECE) by
    sharpening, which pushes the small members of the differential under DDF1's 0.01
    threshold. The raw differential is recovered exactly: calibrated = softmax(log p / T),
    so p is proportional to calibrated ** T.
    """
    import numpy as np

    from dxkit.evaluate.differential import differential_metrics

    raw = np.power(np.clip(proba, 1e-300, 1.0), temperature)
    raw /= raw.sum(axis=1, keepdims=True)
    found = differential_metrics(
        raw, list(model.labels), [lc.label for lc in labeled], [lc.differential for lc in labeled]
    )
    return {f"{k}_uncalibrated": round(float(found[k]), 4) for k in ("ddr", "ddp", "ddf1")}


def conformal_metrics(
    model: DiagnosisModel, proba: Any, labeled: Sequence[LabeledCase]
) -> dict[str, Any]:
    """Coverage, mean set size and abstention rate of the model's conformal sets.

    ``coverage_by_group`` repeats coverage, set size and ECE per sex and age band, since
    the average coverage can hide a group left well below ``1 - alpha``.
    """
    import numpy as np

    from dxkit.calibrate.conformal import abstain, coverage, mean_set_size
    from dxkit.calibrate.temperature import subgroup_key
    from dxkit.evaluate.subgroups import coverage_by_group
    from dxkit.evaluate.summary import round_floats
    from dxkit.knowledge.loader import load_knowledge_base
    from dxkit.report.diagnose import emergency_labels

    conformal = getattr(model, "conformal")  # noqa: B009
    sets = conformal.predict_sets(proba, [subgroup_key(lc.case) for lc in labeled])
    index = {label: i for i, label in enumerate(model.labels)}
    y = np.array([index.get(lc.label, -1) for lc in labeled])
    emergencies = emergency_labels(model.labels, load_knowledge_base())
    refused = [
        abstain(row, members, model.labels, emergencies)[0]
        for row, members in zip(proba, sets, strict=True)
    ]
    return {
        "alpha": round(float(conformal.alpha), 4),
        "coverage": round(float(coverage(sets, y)), 4),
        "mean_set_size": round(float(mean_set_size(sets)), 4),
        "abstain_rate": round(float(np.mean(refused)), 4),
        "coverage_by_group": round_floats(
            coverage_by_group(
                sets,
                y,
                proba,
                float(conformal.alpha),
                sex=[lc.case.sex.value for lc in labeled],
                age_band=[age_band(lc.case.age) for lc in labeled],
            )
        ),
    }


def parse_observation(spec: str) -> Observation:
    """Parse ``CODE=VALUE UNIT`` (e.g. ``8310-5=38.9 Cel``) from the command line.

    >>> parse_observation("59408-5=91 %").value
    91.0
    """
    match = _OBS_PATTERN.match(spec)
    if not match:
        raise InputError(
            "--obs",
            expected="'LOINC=VALUE UNIT', e.g. '8310-5=38.9 Cel'",
            found=repr(spec),
            fix="quote the whole observation and separate value and unit by a space",
        )
    code, value, unit = match.groups()
    return Observation(code=code, value=float(value), unit=unit, source="command line")


def cases_from_cli(
    file: Path | None, text: str | None, age: float | None, sex: str | None, obs: list[str]
) -> list[Case]:
    """Cases for ``dxkit diagnose`` from a file, or one case built from the options."""
    if file is not None and text is not None:
        raise InputError(
            "diagnose input",
            expected="a case file or --text, not both",
            found="both",
            fix="drop one of them",
        )
    if file is not None:
        from dxkit.cases.io import read_cases

        return read_cases(file)
    if text is None and not obs:
        raise InputError(
            "diagnose input",
            expected="a case file, or --text and/or --obs",
            found="nothing",
            fix="e.g. dxkit diagnose --text 'fever and cough for 3 days' --age 40 --sex female",
        )
    return [
        Case(
            case_id="cli-1",
            age=age,
            sex=sex or "unknown",
            notes=text or "",
            observations=[parse_observation(o) for o in obs],
        )
    ]


def load_model_or_default(model_dir: Path | None, *, console: Console) -> DiagnosisModel:
    """The model in ``model_dir``, or the cached default model (trained on first use)."""
    from dxkit.models.base import load_model
    from dxkit.models.default import default_model_dir, load_default_model

    if model_dir is not None:
        return load_model(model_dir)
    if not (default_model_dir() / "dxkit-model.json").is_file():
        console.print("training the default model on the synthetic cohort (first use only)")
    with console.status("loading the default model"):
        return load_default_model()
