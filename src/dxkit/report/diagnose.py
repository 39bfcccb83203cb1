"""The pipeline from cases to differentials: validate -> predict -> rank -> triage.

All cases are validated before any prediction, so a batch with an impossible reading
fails as a whole with the offending case id and nothing is half-written.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from dxkit import __version__
from dxkit.calibrate.conformal import abstain
from dxkit.cases.schema import Case, public_age
from dxkit.errors import InputError
from dxkit.knowledge.loader import KnowledgeBase, load_knowledge_base
from dxkit.knowledge.schema import Condition, Triage
from dxkit.models.base import DiagnosisModel
from dxkit.quality.validate import ValidationResult, validate_case
from dxkit.report.differential import (
    Differential,
    ForecastSummary,
    ModelInfo,
    RankedCondition,
    SignalContribution,
)
from dxkit.triage.combine import combine_triage
from dxkit.triage.news2 import news2

if TYPE_CHECKING:
    from dxkit.forecast.base import ForecastModel

TREND_HOURS = 6  # trends compare now with this many hours earlier


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
    forecaster: ForecastModel | None = None,
) -> list[Differential]:
    """Differentials for ``cases`` from ``model`` (validated, ranked, triaged).

    ``evidence`` > 0 adds the supporting and opposing evidence of that many top
    conditions per case (see :func:`dxkit.explain.explain_case`; costs extra model calls).
    ``alpha`` draws the conformal sets at that error rate instead of the one the model
    was calibrated at (from the same calibration scores). ``predict`` stands in for
    ``model.predict_proba`` on the validated cases (the service's micro-batcher).
    Cases with at least two timed observations of bedside signals gain a ``forecast``
    section (see :func:`forecast_section`); ``forecaster`` adds the model's risk to it.
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
                forecast=forecast_section(result.case, forecaster),
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


def has_time_series(case: Case) -> bool:
    """At least two timed observations of signals the forecaster reads.

    The cheap test (two timed observations at all) runs first, so cases without series
    never import the forecasting stage.
    """
    timed = [o.code for o in case.observations if o.time is not None]
    if len(timed) < 2:
        return False
    from dxkit.forecast.signals import by_loinc

    known = by_loinc()
    return sum(code in known for code in timed) >= 2


def _num(value: float) -> float | None:
    return round(float(value), 4) if math.isfinite(value) else None


def _trend(now: float, before: float, step: float) -> str:
    if not (math.isfinite(now) and math.isfinite(before)):
        return "unknown"
    change = now - before
    return "rising" if change >= step else "falling" if change <= -step else "stable"


def forecast_section(case: Case, forecaster: ForecastModel | None = None) -> ForecastSummary | None:
    """The case's forecast section, or ``None`` when it has no bedside time series.

    Early-warning scores are computed hourly from the first timed observation to the
    last; with a ``forecaster`` the risk now (at the hour of the last reading, capped
    at the model's horizon), its 6-hour change and the signals that raised it are added.
    """
    if not has_time_series(case):
        return None
    from dxkit.forecast.scores import score_timeline
    from dxkit.forecast.series import records_from_cases

    [record] = records_from_cases([case])
    last = record.last_time()
    span = min(max(math.ceil(last), 1), 240)
    scores = score_timeline(record, span)
    now = min(max(math.ceil(last), 1), span) - 1
    before = max(now - TREND_HOURS, 0)
    news = scores.news2
    fields: dict[str, Any] = {
        "hours_observed": round(last, 2),
        "news2_hourly": [_num(v) for v in news],
        "news2_now": _num(news[now]),
        "news2_max": _num(float(np.nanmax(news))) if np.isfinite(news).any() else None,
        "news2_trend": _trend(float(news[now]), float(news[before]), 2.0),
        "qsofa_now": _num(scores.qsofa[now]),
        "sofa_now": _num(scores.sofa[now]),
        "warnings": list(record.warnings),
    }
    if forecaster is not None:
        fields.update(_model_fields(forecaster, record, last))
    return ForecastSummary(**fields)


def _model_fields(model: ForecastModel, record: Any, last: float) -> dict[str, Any]:
    """Risk now, its trend, the alert flag and the top signals from a forecaster."""
    curve = model.risk_curve(record)  # (hours,), point t: data up to hour t + 1
    now = min(math.floor(last), curve.size - 1)
    before = max(now - TREND_HOURS, 0)
    risk = float(curve[now])
    if hasattr(model, "top_signals"):
        found = model.top_signals(record, top=3)
    else:
        from dxkit.forecast.explain import top_signals
        from dxkit.forecast.gbm import GbmForecaster

        found = top_signals(model, record, top=3) if isinstance(model, GbmForecaster) else []
    return {
        "risk_now": round(risk, 4),
        "risk_trend": _trend(risk, float(curve[before]), 0.02),
        "risk_change_6h": round(risk - float(curve[before]), 4),
        "alert": None if model.alert is None else bool(risk >= model.alert.threshold),
        "horizon_hours": int(model.hours),
        "top_signals": [SignalContribution(**c.to_dict()) for c in found],
        "model_id": str(getattr(model, "model_id", type(model).__name__)),
    }
