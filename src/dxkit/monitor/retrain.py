"""Retraining from clinician feedback, kept only when it beats the model in use.

Training data: every stored, de-identified case whose diagnosis a clinician settled
(``confirmed`` -> the judged condition; ``rejected``/``other`` with a corrected condition
-> that one), plus the original training data when given. A patient-disjoint slice of the
feedback cases is held back (never trained on) and both models are scored on it; the
candidate is kept when its top-1 accuracy and ECE are no worse than the current model's
beyond small tolerances and it is better on at least one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console

from dxkit.cases.schema import LabeledCase
from dxkit.errors import InputError
from dxkit.models.base import DiagnosisModel, read_manifest
from dxkit.monitor.drift import ece
from dxkit.monitor.window import LiveAnswer

MIN_FEEDBACK_CASES = 20
HELD_BACK = 0.2


@dataclass(frozen=True)
class Score:
    """Top-1 accuracy and ECE of one model on the held-back slice."""

    top1: float
    ece: float


@dataclass(frozen=True)
class RetrainResult:
    """The comparison and the decision; ``candidate_model`` is the new model either way."""

    current: Score
    candidate: Score
    accepted: bool
    reason: str
    n_feedback: int
    n_train: int
    n_held_back: int
    candidate_model: DiagnosisModel
    training_cases: list[LabeledCase] = field(default_factory=list, repr=False)

    def describe(self) -> str:
        """The comparison and decision, one line."""
        verdict = "keep the new model" if self.accepted else "keep the current model"
        return (
            f"held-back slice of {self.n_held_back} feedback cases: current top-1 "
            f"{self.current.top1:.3f} ECE {self.current.ece:.3f}; new top-1 "
            f"{self.candidate.top1:.3f} ECE {self.candidate.ece:.3f} -> {verdict} ({self.reason})"
        )


def name_to_label(model: DiagnosisModel) -> dict[str, str]:
    """Stored answers name conditions as the knowledge base does; map them to model labels."""
    from dxkit.knowledge.loader import load_knowledge_base
    from dxkit.report.diagnose import resolve_labels

    entries = resolve_labels(model.labels, load_knowledge_base())
    return {
        (entry.name if entry else label): label
        for label, entry in zip(model.labels, entries, strict=True)
    }


def feedback_dataset(answers: Sequence[LiveAnswer], names: dict[str, str]) -> list[LabeledCase]:
    """One labelled case per stored case with a settled diagnosis (its latest verdict).

    The patient pseudonym stands in for the patient id, so splits stay patient-disjoint
    without the real identifier ever being known.
    """
    latest: dict[str, LiveAnswer] = {}
    for answer in answers:
        if answer.case is None or answer.truth is None:
            continue
        seen = latest.get(answer.stored_id)
        if seen is None or answer.created_at > seen.created_at:
            latest[answer.stored_id] = answer
    return [
        LabeledCase(
            case=a.case.model_copy(update={"patient_id": a.patient_key, "case_id": a.stored_id}),
            label=names.get(a.truth, a.truth),
        )
        for a in latest.values()
        if a.case is not None and a.truth is not None
    ]


def score(model: DiagnosisModel, labeled: Sequence[LabeledCase]) -> Score:
    """Top-1 accuracy and ECE; a label the model does not know counts as a miss."""
    from dxkit.pipeline import keep_valid

    kept, _ = keep_valid(labeled)
    proba = model.predict_proba([lc.case for lc in kept])
    top = np.asarray(model.labels)[proba.argmax(axis=1)]
    correct = top == np.asarray([lc.label for lc in kept])
    return Score(float(correct.mean()), ece(proba.max(axis=1), correct))


def decide(
    current: Score, candidate: Score, top1_tolerance: float, ece_tolerance: float
) -> tuple[bool, str]:
    """Whether the candidate beats the current model, and why.

    >>> decide(Score(0.8, 0.05), Score(0.85, 0.06), 0.01, 0.02)
    (True, 'better top-1, ECE within tolerance')
    >>> decide(Score(0.8, 0.05), Score(0.75, 0.01), 0.01, 0.02)[0]
    False
    """
    if candidate.top1 < current.top1 - top1_tolerance:
        return False, f"top-1 worse by more than {top1_tolerance}"
    if candidate.ece > current.ece + ece_tolerance:
        return False, f"ECE worse by more than {ece_tolerance}"
    if candidate.top1 > current.top1:
        return True, "better top-1, ECE within tolerance"
    if candidate.ece < current.ece:
        return True, "better ECE, top-1 within tolerance"
    return False, "no better on top-1 or ECE"


def retrain(
    current_dir: Path,
    answers: Sequence[LiveAnswer],
    *,
    base: Sequence[LabeledCase] = (),
    seed: int = 0,
    top1_tolerance: float = 0.01,
    ece_tolerance: float = 0.02,
    console: Console | None = None,
) -> RetrainResult:
    """Train a candidate of the current model's kind and compare both on held-back feedback.

    Raises:
        InputError: fewer than ``MIN_FEEDBACK_CASES`` settled cases, or none held back.
    """
    from dxkit.models.base import load_model
    from dxkit.pipeline import fit_model
    from dxkit.train.splits import train_val_test_split

    quiet = console or Console(quiet=True)
    manifest = read_manifest(current_dir)
    current = load_model(current_dir)
    feedback = feedback_dataset(answers, name_to_label(current))
    if len(feedback) < MIN_FEEDBACK_CASES:
        raise InputError(
            "feedback",
            expected=f"at least {MIN_FEEDBACK_CASES} stored cases with a settled diagnosis",
            found=f"{len(feedback)}",
            fix="collect more clinician verdicts before retraining",
        )
    split = train_val_test_split(feedback, val=0.0, test=HELD_BACK, seed=seed)
    if not split.test:
        raise InputError(
            "feedback",
            expected="feedback on several patients per condition, so a slice can be held back",
            found=f"{len(feedback)} cases, none could be held back",
            fix="collect more clinician verdicts before retraining",
        )
    training = [*base, *split.train]
    config = manifest.get("config") or {}
    conformal = manifest.get("conformal") or {}
    candidate, _ = fit_model(
        str(manifest["kind"]),
        training,
        seed=seed,
        console=quiet,
        soft=any(lc.differential for lc in training),
        calibrate="calibration" in manifest,
        alpha=float(conformal.get("alpha", 0.1)),
        epochs=config.get("epochs"),
    )
    now, new = score(current, split.test), score(candidate, split.test)
    accepted, reason = decide(now, new, top1_tolerance, ece_tolerance)
    return RetrainResult(
        current=now,
        candidate=new,
        accepted=accepted,
        reason=reason,
        n_feedback=len(feedback),
        n_train=len(training),
        n_held_back=len(split.test),
        candidate_model=candidate,
        training_cases=training,
    )
