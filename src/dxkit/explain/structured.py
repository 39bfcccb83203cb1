"""Structured attributions: how much did age, sex, history and each reading matter?

Why occlusion of each fact: every model accepts a case with a fact missing (age unknown,
sex unknown, a reading not taken, a history item not recorded), because real cases arrive
that way, so removing a fact asks the model a question it was built to answer. Permuting
a value across a cohort would need a cohort at explanation time, which one clinician with
one patient does not have. The weight of a fact is the drop in the target probability
when it is removed; positive facts support the class, negative ones argue against it, in
the same probability units as the word attributions.

Features are named in words a clinician reads ("heart rate 128 /min", "age 67",
"sex female", "medication metformin"), with values in the canonical unit of the
observation catalogue and ages over 89 shown as "90+". The notes are never part of a name.

Limits: one fact at a time ignores interactions (fever and a high heart rate may each look
weak while together they decide the answer), and a repeated reading of the same
observation is removed one reading at a time, so each copy gets only its own share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dxkit.cases.schema import Case, Observation, Sex, public_age
from dxkit.explain.occlusion import BATCH_SIZE, batched_proba
from dxkit.explain.words import check_targets
from dxkit.quality.catalogue import catalogue_by_loinc

_LIFESTYLE = ("smoking", "alcohol", "activity", "occupation")
_HISTORY = (
    ("past_conditions", "history of"),
    ("medications", "medication"),
    ("allergies", "allergy"),
    ("family_history", "family history of"),
)


@dataclass(frozen=True)
class FeatureWeight:
    """One structured fact, named for a clinician, and its attribution."""

    name: str
    weight: float


@dataclass(frozen=True)
class StructuredAttribution:
    """The structured attributions of one case toward one class (``target`` index)."""

    target: int
    features: tuple[FeatureWeight, ...]

    def pairs(self) -> list[tuple[str, float]]:
        """``(feature name, weight)`` pairs in the order the facts appear in the case."""
        return [(f.name, f.weight) for f in self.features]


def observation_name(obs: Observation) -> str:
    """A reading as a clinician would say it, in the catalogue's canonical unit.

    >>> observation_name(Observation(code="8310-5", value=101.3, unit="[degF]"))
    'body temperature 38.5 Cel'
    >>> observation_name(Observation(code="0000-0", value=3, unit="mg"))
    'observation 0000-0 3 mg'
    """
    spec = catalogue_by_loinc().get(obs.code)
    if spec is None:
        return f"observation {obs.code} {obs.value:g} {obs.unit}"
    value = spec.to_canonical(obs.value, obs.unit)
    if value is None:
        return f"{spec.name} {obs.value:g} {obs.unit}"
    return f"{spec.name} {value:.4g} {spec.unit}"


def structured_variants(case: Case) -> list[tuple[str, Case]]:
    """Each structured fact of ``case`` by name, with the case that lacks it.

    >>> c = Case(case_id="1", age=93, sex="F", notes="cough")
    >>> [name for name, _ in structured_variants(c)]
    ['age 90+', 'sex female']
    """
    out: list[tuple[str, Case]] = []
    if case.age is not None:
        out.append((f"age {public_age(case.age)}", case.model_copy(update={"age": None})))
    if case.sex is not Sex.unknown:
        out.append((f"sex {case.sex.value}", case.model_copy(update={"sex": Sex.unknown})))
    for field in _LIFESTYLE:
        value = getattr(case.lifestyle, field)
        if value:
            life = case.lifestyle.model_copy(update={field: None})
            out.append((f"{field} {value}", case.model_copy(update={"lifestyle": life})))
    for field, prefix in _HISTORY:
        items: list[str] = getattr(case.history, field)
        for i, item in enumerate(items):
            hist = case.history.model_copy(update={field: items[:i] + items[i + 1 :]})
            out.append((f"{prefix} {item}", case.model_copy(update={"history": hist})))
    for i, obs in enumerate(case.observations):
        rest = case.observations[:i] + case.observations[i + 1 :]
        out.append((observation_name(obs), case.model_copy(update={"observations": rest})))
    return out


def structured_drops(
    model: Any, cases: Sequence[Case], *, batch_size: int = BATCH_SIZE
) -> list[tuple[list[str], np.ndarray]]:
    """Per case: the fact names and the drop of every class, shape (n_facts, C).

    One batched ``predict_proba`` serves every case, fact and class.
    """
    per_case = [structured_variants(c) for c in cases]
    inputs: list[Case] = []
    for case, variants in zip(cases, per_case, strict=True):
        inputs.append(case)
        inputs.extend(v for _, v in variants)
    proba = batched_proba(model, inputs, batch_size)  # (sum(n_facts + 1), C)
    out: list[tuple[list[str], np.ndarray]] = []
    row = 0
    for variants in per_case:
        drops = proba[row][None, :] - proba[row + 1 : row + 1 + len(variants)]  # (n_facts, C)
        out.append(([name for name, _ in variants], drops))
        row += len(variants) + 1
    return out


def structured_attributions(
    model: Any,
    cases: Sequence[Case],
    targets: Sequence[int],
    *,
    batch_size: int = BATCH_SIZE,
) -> list[StructuredAttribution]:
    """Occlusion attributions of each case's structured facts toward its target class.

    Args:
        model: anything with ``labels`` and ``predict_proba`` (calibrated or not).
        cases: the cases to explain.
        targets: one class index (position in ``model.labels``) per case.
        batch_size: cases per ``predict_proba`` call.

    Raises:
        InputError: targets do not match the cases or the model's labels.
    """
    checked = check_targets(targets, len(cases), len(model.labels))
    return [
        StructuredAttribution(
            target, tuple(FeatureWeight(n, float(drops[i, target])) for i, n in enumerate(names))
        )
        for (names, drops), target in zip(
            structured_drops(model, cases, batch_size=batch_size), checked, strict=True
        )
    ]
