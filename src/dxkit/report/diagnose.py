"""The pipeline from cases to differentials: validate -> predict -> rank -> triage.

All cases are validated before any prediction, so a batch with an impossible reading
fails as a whole with the offending case id and nothing is half-written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dxkit import __version__
from dxkit.calibrate.conformal import abstain
from dxkit.cases.schema import Case, public_age
from dxkit.errors import InputError
from dxkit.knowledge.loader import KnowledgeBase, load_knowledge_base
from dxkit.knowledge.schema import Condition, Triage
from dxkit.models.base import DiagnosisModel
from dxkit.quality.validate import ValidationResult, validate_case
from dxkit.report.differential import Differential, ModelInfo, RankedCondition
from dxkit.triage.combine import combine_triage
from dxkit.triage.news2 import news2


def validate_all(cases: Sequence[Case], *, strict: bool = True) -> list[ValidationResult]:
    """Validate every case; the first error names its case id (never its notes).

    ``strict`` (the default for diagnosis) rejects LOINC codes the catalogue does not
    know: a value the model cannot interpret should not pass silently into an answer.
    """
    results = []
    for case in cases:
        try:
            results.append(validate_case(case, strict=strict))
        except InputError as exc:
            prefix = f"case {case.case_id!r}"
            raise InputError(
                exc.what if exc.what.startswith(prefix) else f"{prefix}: {exc.what}",
                expected=exc.expected,
                found=exc.found,
                fix=exc.fix,
            ) from None
    return results


def resolve_labels(labels: Sequence[str], kb: KnowledgeBase) -> list[Condition | None]:
    """The knowledge-base entry of each model label (``None`` where it has none), once."""
    return [kb.resolve(label) for label in labels]


def emergency_labels(labels: Sequence[str], kb: KnowledgeBase) -> set[str]:
    """Model labels whose condition is an emergency: they must not hide below the top."""
    return {
        label
        for label, entry in zip(labels, resolve_labels(labels, kb), strict=True)
        if entry is not None and entry.triage == Triage.emergency
    }


def rank_conditions(
    proba: np.ndarray, labels: Sequence[str], entries: Sequence[Condition | None], top: int
) -> list[RankedCondition]:
    """The ``top`` most probable labels, enriched with codes and triage from their entries."""
    order = np.argsort(-proba, kind="stable")[:top]
    ranked = []
    for index in order:
        entry = entries[int(index)]
        ranked.append(
            RankedCondition(
                name=entry.name if entry else labels[int(index)],
                label=labels[int(index)],
                icd10=entry.icd10 if entry else None,
                snomed=entry.snomed if entry else None,
                probability=round(float(proba[index]), 4),
                triage=entry.triage if entry else None,
                red_flags=list(entry.red_flags) if entry else [],
            )
        )
    return ranked


def diagnose(
    model: DiagnosisModel,
    cases: Sequence[Case],
    *,
    top: int = 5,
    kb: KnowledgeBase | None = None,
    strict: bool = True,
    evidence: int = 0,
    alpha: float | None = None,
    predict: Callable[[Sequence[Case]], np.ndarray] | None = None,
) -> list[Differential]:
    """Differentials for ``cases`` from ``model`` (validated, ranked, triaged).

    ``evidence`` > 0 adds the supporting and opposing evidence of that many top
    conditions per case (see :func:`dxkit.explain.explain_case`; costs extra model calls).
    ``alpha`` draws the conformal sets at that error rate instead of the one the model
    was calibrated at (from the same calibration scores). ``predict`` stands in for
    ``model.predict_proba`` on the validated cases (the service's micro-batcher).
    """
    if top < 1:
        raise InputError("top", expected="an integer >= 1", found=str(top), fix="pass --top 5")
    if evidence < 0:
        raise InputError(
            "evidence", expected="an integer >= 0", found=str(evidence), fix="pass --evidence 3"
        )
    kb = kb or load_knowledge_base()
    validated = validate_all(cases, strict=strict)
    clean = [result.case for result in validated]
    proba = (predict or model.predict_proba)(clean)  # (n_cases, n_labels)
    info = ModelInfo(
        kind=str(getattr(model, "kind", type(model).__name__)),
        dxkit_version=__version__,
        n_labels=len(model.labels),
        model_id=str(getattr(model, "model_id", "unsaved")),
        trained_at=getattr(model, "trained_at", None),
    )
    predictor = getattr(model, "conformal", None)
    if alpha is not None:
        if predictor is None:
            raise InputError(
                "confidence",
                expected="a model calibrated with conformal prediction sets",
                found="a model without them",
                fix="leave the confidence out, or train with calibration (200+ cases)",
            )
        predictor = predictor.at_alpha(alpha)
    sets = _prediction_sets(predictor, proba, clean)
    entries = resolve_labels(model.labels, kb)
    names = [
        entry.name if entry else label for label, entry in zip(model.labels, entries, strict=True)
    ]
    emergencies = emergency_labels(model.labels, kb)
    answers = []
    for index, (result, row) in enumerate(zip(validated, proba, strict=True)):
        triage = combine_triage(
            [
                (name, entry.triage, round(float(p), 4))
                for name, entry, p in zip(names, entries, row, strict=True)
                if entry is not None
            ],
            news2(result.case),
        )
        conformal: dict[str, Any] = {}
        if sets is not None and predictor is not None:
            members = sets[index]
            level = float(predictor.alpha)
            refer, why = abstain(row, members, model.labels, emergencies, level=1 - level)
            conformal = {
                "alpha": round(level, 6),
                "prediction_set": [names[i] for i in members],
                "abstain": refer,
                "abstain_reason": why,
            }
        answers.append(
            Differential(
                case_id=result.case.case_id,
                age=public_age(result.case.age),
                sex=result.case.sex.value,
                conditions=_with_evidence(
                    model, result.case, rank_conditions(row, model.labels, entries, top), evidence
                ),
                triage=triage,
                warnings=list(result.warnings),
                model=info,
                **conformal,
            )
        )
    return answers


def _with_evidence(
    model: DiagnosisModel, case: Case, ranked: list[RankedCondition], evidence: int
) -> list[RankedCondition]:
    """The ranked conditions, the first ``evidence`` of them with their evidence."""
    if evidence == 0:
        return ranked
    from dxkit.explain.evidence import explain_case

    found = explain_case(model, case, [cond.label for cond in ranked[:evidence]])
    return [
        cond.model_copy(
            update={
                "supporting": found[cond.label].supporting,
                "opposing": found[cond.label].opposing,
            }
        )
        if cond.label in found
        else cond
        for cond in ranked
    ]


def _prediction_sets(
    conformal: Any, proba: np.ndarray, cases: Sequence[Case]
) -> list[list[int]] | None:
    """Conformal sets (label indices) when the model carries a fitted predictor."""
    if conformal is None:
        return None
    from dxkit.calibrate.temperature import subgroup_key

    sets: list[list[int]] = conformal.predict_sets(proba, [subgroup_key(c) for c in cases])
    return sets
