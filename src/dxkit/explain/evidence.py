"""Evidence per condition: what in this case speaks for and against each diagnosis.

Why one list of words and facts: a clinician reads "supports pneumonia: cough, fever,
body temperature 38.9 Cel; against: rash" and checks it against the patient in seconds.
Word weights and structured weights are both drops in the condition's probability, so
they can be ranked together.

Words come from integrated gradients when the model is a transformer encoder (one
backward pass per step instead of one forward pass per word) and from word occlusion for
every other model; structured facts come from occlusion of each fact
(:mod:`dxkit.explain.structured`), which any model supports through ``predict_proba``.
Only words of the notes are listed (the structured text an encoder also reads is already
covered, by name, by the structured facts), and a word that occurs several times is listed
once with the sum of its weights. The evidence may quote words of the patient's
own note (that is its purpose); it must go only where the differential itself goes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dxkit.cases.schema import Case
from dxkit.deid.types import PhiKind
from dxkit.errors import InputError
from dxkit.explain.occlusion import MAX_WORDS, occlusion_drops, to_attribution
from dxkit.explain.structured import structured_drops
from dxkit.explain.tokens import integrated_gradients, unwrap_encoder
from dxkit.explain.words import TokenAttribution


class EvidenceItem(BaseModel):
    """One word of the notes or one structured fact, with its weight for a condition."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["token", "structured"]
    feature: str
    weight: float  # change in the condition's probability it accounts for


class ConditionEvidence(BaseModel):
    """The strongest evidence for and against one condition, strongest first."""

    model_config = ConfigDict(frozen=True)
    label: str
    supporting: list[EvidenceItem] = Field(default_factory=list)
    opposing: list[EvidenceItem] = Field(default_factory=list)
    method: Literal["integrated_gradients", "occlusion"] = "occlusion"


def _targets(model: Any, labels: Sequence[str]) -> list[int]:
    index = {label: i for i, label in enumerate(model.labels)}
    missing = [label for label in labels if label not in index]
    if missing:
        raise InputError(
            "explained conditions",
            expected="labels the model was trained on",
            found=f"unknown label {missing[0]!r}",
            fix="pick labels from model.labels (e.g. the top of the differential)",
        )
    return [index[label] for label in labels]


_DEID_TAG = re.compile(r"\[(" + "|".join(kind.value for kind in PhiKind) + r")\]")


def _merge_repeats(attribution: TokenAttribution, skip: frozenset[str]) -> list[EvidenceItem]:
    """One item per distinct note word (case-insensitive): repeats add up their weights.

    Integrated-gradients weights are additive, so the sum is the word's whole share; for
    occlusion it is the sum of the single-deletion effects, an approximation.
    """
    merged: dict[str, tuple[str, float]] = {}
    for w in attribution.note_words():
        if w.word.strip("[]'s") in skip:
            continue  # "[NAME]" left by de-identification is no clinical evidence
        shown, total = merged.get(w.word.lower(), (w.word, 0.0))
        merged[w.word.lower()] = (shown, total + w.weight)
    return [EvidenceItem(kind="token", feature=f, weight=v) for f, v in merged.values()]


def _rank(label: str, items: list[EvidenceItem], top: int, method: str) -> ConditionEvidence:
    ordered = sorted(items, key=lambda item: item.weight)
    supporting = [i for i in reversed(ordered) if i.weight > 0][:top]
    opposing = [i for i in ordered if i.weight < 0][:top]
    return ConditionEvidence.model_validate(
        {"label": label, "supporting": supporting, "opposing": opposing, "method": method}
    )


def explain_case(
    model: Any,
    case: Case,
    labels: Sequence[str],
    *,
    top: int = 5,
    n_steps: int = 20,
    max_words: int = MAX_WORDS,
) -> dict[str, ConditionEvidence]:
    """The top supporting and opposing words and facts of ``case`` for each of ``labels``.

    Args:
        model: any model with ``labels`` and ``predict_proba``; an encoder (possibly
            calibrated) is explained with integrated gradients, others with occlusion.
        case: the case to explain.
        labels: the conditions to explain, e.g. the top three of the differential.
        top: items kept on each side per condition.
        n_steps: integrated-gradients steps (encoder models only).
        max_words: words of the notes occluded (other models only).

    Returns:
        Evidence keyed by label, in the order of ``labels``.

    Raises:
        InputError: a label the model does not know, or ``top`` < 1.
    """
    if top < 1:
        raise InputError("top", expected="an integer >= 1", found=repr(top), fix="pass top >= 1")
    targets = _targets(model, labels)
    if not targets:
        return {}
    # Occlusion reads the model before temperature scaling: the temperature keeps every
    # ranking but, fitted on an easy calibration set, can saturate the top probability at
    # 1.0, where deleting any single word or fact changes nothing and no evidence shows.
    raw = getattr(model, "inner", model)
    names, fact_drops = structured_drops(raw, [case])[0]  # (n_facts, C)
    if unwrap_encoder(model) is not None:
        method = "integrated_gradients"
        words: list[TokenAttribution] = integrated_gradients(
            model, [case] * len(targets), targets, n_steps=n_steps
        )
    else:
        method = "occlusion"
        spans, word_drops = occlusion_drops(raw, [case], max_words=max_words)[0]
        words = [to_attribution(case, spans, word_drops, t) for t in targets]
    out: dict[str, ConditionEvidence] = {}
    tags = frozenset(_DEID_TAG.findall(case.notes))  # only tags this note holds: "ID" stays
    for label, target, attribution in zip(labels, targets, words, strict=True):
        items = _merge_repeats(attribution, tags)
        items += [
            EvidenceItem(kind="structured", feature=name, weight=float(fact_drops[i, target]))
            for i, name in enumerate(names)
        ]
        out[label] = _rank(label, items, top, method)
    return out
