"""LLM-assisted differential: re-rank, add, ask - then combine, or fall back.

The LLM sees the de-identified case and the calibrated differential and answers JSON
(:class:`~dxkit.llm.schema.Assessment`). dxkit keeps only what it can check: conditions
must resolve to the knowledge base (by name, alias or ICD-10), additions must cite
findings found in the case. The ranking is mixed with the model's probabilities at a
weight fitted on validation data (:func:`dxkit.llm.combine.fit_weight`); triage and the
conformal set stay the model's. On any failure the model's answer comes back unchanged
with a warning naming the reason, never the LLM's text.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from pydantic import ValidationError

from dxkit.cases.schema import Case
from dxkit.errors import DxkitError, InputError
from dxkit.knowledge.loader import KnowledgeBase, load_knowledge_base
from dxkit.knowledge.schema import Condition
from dxkit.llm.combine import DEFAULT_EPS
from dxkit.llm.grounding import CaseFacts
from dxkit.llm.schema import Assessment, assessment_schema
from dxkit.llm.texts import messages_for
from dxkit.models.llm import LLMClient, LLMUnavailable
from dxkit.quality.validate import QualityWarning
from dxkit.report.differential import Differential, RankedCondition


class AssessmentRejected(DxkitError):
    """The LLM answered, but not with something dxkit can use."""

    def __init__(self, kind: str, found: str) -> None:
        self.kind = kind
        super().__init__(
            "LLM answer",
            expected="JSON matching the schema, naming knowledge-base conditions only",
            found=found,
            fix="use a server with constrained decoding (response_format json_schema)",
        )


@dataclass(frozen=True)
class ResolvedAssessment:
    """An accepted LLM answer with every condition resolved to the knowledge base."""

    ranking: list[Condition]
    additions: list[tuple[Condition, list[str]]]
    questions: list[str]
    dropped_additions: int
    schema_enforced: bool
    latency_s: float


@dataclass(frozen=True)
class AssistResult:
    """The (possibly combined) differential and what the LLM contributed."""

    differential: Differential
    used_llm: bool
    weight: float = 0.0
    questions: list[str] = field(default_factory=list)
    additions: list[tuple[str, list[str]]] = field(default_factory=list)  # (name, evidence)
    latency_s: float | None = None


def default_weight() -> float:
    """``DXKIT_LLM_WEIGHT`` (fitted by ``benchmarks/llm.py``), else 0: model ranks alone."""
    raw = os.environ.get("DXKIT_LLM_WEIGHT", "0")
    try:
        weight = float(raw)
    except ValueError:
        weight = -1.0
    if not 0.0 <= weight <= 1.0:
        raise InputError(
            "DXKIT_LLM_WEIGHT", expected="a number in [0, 1]", found=repr(raw), fix="e.g. 0.3"
        )
    return weight


def _resolve(name: str, kb: KnowledgeBase) -> Condition | None:
    found = kb.resolve(name)
    if found is None:
        code = name.strip().upper()
        found = next((c for c in kb.conditions.values() if c.icd10 == code), None)
    return found


def request_assessment(
    client: LLMClient, case: Case, answer: Differential, *, kb: KnowledgeBase | None = None
) -> ResolvedAssessment:
    """Ask the LLM about one de-identified case; validate and resolve its answer.

    Raises:
        LLMUnavailable: no answer (timeout, open circuit, auth, not OpenAI-compatible).
        AssessmentRejected: an answer that is not valid JSON or names unknown conditions.
    """
    kb = kb or load_knowledge_base()
    listed = "\n".join(
        f"- {c.name} (ICD-10 {c.icd10 or '-'}): {c.probability:.3f}" for c in answer.conditions
    )
    allowed = sorted(c.name for c in kb.conditions.values())
    context = (
        f"MODEL DIFFERENTIAL (calibrated probabilities):\n{listed}\n"
        f"ALLOWED CONDITIONS: {', '.join(allowed)}"
    )
    schema = assessment_schema(allowed, max_ranked=max(len(answer.conditions), 1) + 3)
    reply = client.chat(messages_for("assist", case, context), json_schema=schema)
    try:
        parsed = Assessment.model_validate(json.loads(reply.content))
    except (json.JSONDecodeError, ValidationError, TypeError):
        raise AssessmentRejected(
            "invalid_json", "output that is not valid JSON for the schema"
        ) from None
    unknown = [r.condition for r in parsed.ranking if _resolve(r.condition, kb) is None] + [
        a.condition for a in parsed.additions if _resolve(a.condition, kb) is None
    ]
    if unknown:
        raise AssessmentRejected("unknown_condition", f"{len(unknown)} unknown condition name(s)")
    facts = CaseFacts(case)
    additions = []
    for item in parsed.additions:
        if all(facts.has(e) for e in item.evidence):
            entry = _resolve(item.condition, kb)
            assert entry is not None  # checked above
            additions.append((entry, list(item.evidence)))
    ranking = [c for c in (_resolve(r.condition, kb) for r in parsed.ranking) if c is not None]
    return ResolvedAssessment(
        ranking=ranking,
        additions=additions,
        questions=list(parsed.follow_up_questions),
        dropped_additions=len(parsed.additions) - len(additions),
        schema_enforced=reply.schema_enforced,
        latency_s=reply.latency_s,
    )


def _key(cond: RankedCondition, kb: KnowledgeBase) -> str:
    entry = _resolve(cond.label or cond.name, kb) or _resolve(cond.name, kb)
    return entry.id if entry else f"label:{cond.label or cond.name}"


def combine_differential(
    answer: Differential, found: ResolvedAssessment, weight: float, kb: KnowledgeBase
) -> Differential:
    """``(1 - w) * p_model + w * p_llm`` over the listed conditions (rest kept implicit)."""
    p_model = {_key(c, kb): c.probability for c in answer.conditions}
    by_key = {_key(c, kb): c for c in answer.conditions}
    order: list[Condition] = []
    for entry in [*found.ranking, *(e for e, _ in found.additions)]:
        if entry.id not in (o.id for o in order):
            order.append(entry)
    n_labels = max(answer.model.n_labels, len(set(p_model) | {e.id for e in order}), 1)
    recip = [1.0 / (rank + 1) for rank in range(len(order))]
    total = sum(recip) or 1.0
    p_llm = {e.id: (1 - DEFAULT_EPS) * r / total for e, r in zip(order, recip, strict=True)}
    keys = list(p_model) + [e.id for e in order if e.id not in p_model and weight > 0]
    entries = {e.id: e for e in order}
    combined = {
        k: (1 - weight) * p_model.get(k, 0.0)
        + weight * (p_llm.get(k, 0.0) + DEFAULT_EPS / n_labels)
        for k in keys
    }
    conditions = []
    for key in sorted(keys, key=lambda k: -combined[k]):
        prob = round(min(max(combined[key], 0.0), 1.0), 4)
        if key in by_key:
            conditions.append(by_key[key].model_copy(update={"probability": prob}))
        else:
            e = entries[key]
            conditions.append(
                RankedCondition(
                    name=e.name,
                    label=e.id,
                    icd10=e.icd10,
                    snomed=e.snomed,
                    probability=prob,
                    triage=e.triage,
                    red_flags=list(e.red_flags),
                )
            )
    return answer.model_copy(update={"conditions": conditions})


def _warn(answer: Differential, code: str, message: str) -> Differential:
    warning = QualityWarning(code=code, field="llm", message=message)
    return answer.model_copy(update={"warnings": [*answer.warnings, warning]})


def assist_differential(
    case: Case,
    answer: Differential,
    client: LLMClient | None,
    *,
    weight: float | None = None,
    kb: KnowledgeBase | None = None,
) -> AssistResult:
    """The model's differential, re-ranked with the LLM's view when it gives a usable one.

    ``case`` must be de-identified (the client refuses it otherwise); ``weight`` defaults
    to :func:`default_weight`. Without a client the answer is returned as it is.
    """
    if client is None:
        return AssistResult(answer, used_llm=False)
    kb = kb or load_knowledge_base()
    weight = default_weight() if weight is None else weight
    try:
        found = request_assessment(client, case, answer, kb=kb)
    except (LLMUnavailable, AssessmentRejected) as exc:
        reason = f"{exc.kind}: {exc.found}"
        return AssistResult(
            _warn(answer, "llm_fallback", f"LLM not used ({reason}); model's differential shown"),
            used_llm=False,
        )
    combined = combine_differential(answer, found, weight, kb)
    if found.dropped_additions:
        combined = _warn(
            combined,
            "llm_ungrounded",
            f"{found.dropped_additions} LLM addition(s) dropped: evidence not found in the case",
        )
    return AssistResult(
        differential=combined,
        used_llm=True,
        weight=weight,
        questions=found.questions,
        additions=[(e.name, ev) for e, ev in found.additions],
        latency_s=found.latency_s,
    )
