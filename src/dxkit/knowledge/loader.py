"""Load and cross-check the knowledge base shipped in ``dxkit/resources/kb``.

Files: ``symptoms*.yaml`` (lists of :class:`Symptom`) and ``conditions_*.yaml`` (lists of
:class:`Condition`). Every symptom a condition cites must exist, ids must be unique, and
observation keys must be in ``resources/observations.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

from dxkit.knowledge.schema import Condition, Symptom


@dataclass(frozen=True)
class KnowledgeBase:
    """All conditions and symptoms, indexed by id, plus an alias index for data sets."""

    version: str
    conditions: dict[str, Condition]
    symptoms: dict[str, Symptom]
    _by_alias: dict[str, str] = field(default_factory=dict, repr=False)

    def resolve(self, name: str) -> Condition | None:
        """Find a condition by id, name, Chinese name or alias (case-insensitive)."""
        key = self._by_alias.get(name.strip().lower())
        return self.conditions[key] if key else None

    def condition_by_name(self, name: str) -> Condition:
        """Like :meth:`resolve` but raises ``KeyError`` naming the missing condition."""
        found = self.resolve(name)
        if found is None:
            raise KeyError(f"condition {name!r} is not in the knowledge base")
        return found


def _read_yaml(name: str) -> Any:
    text = resources.files("dxkit.resources").joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def observation_keys() -> set[str]:
    """Keys of the observation catalogue (``resources/observations.yaml``)."""
    return set(_read_yaml("observations.yaml")["observations"])


@cache
def load_knowledge_base() -> KnowledgeBase:
    """Load, validate and index the shipped knowledge base (cached per process)."""
    kb_dir = resources.files("dxkit.resources").joinpath("kb")
    files = sorted(p.name for p in kb_dir.iterdir() if p.name.endswith(".yaml"))
    symptoms: dict[str, Symptom] = {}
    conditions: dict[str, Condition] = {}
    version = "0"
    for name in files:
        doc = _read_yaml(f"kb/{name}")
        version = max(version, str(doc.get("version", "0")))
        for raw in doc.get("symptoms", []):
            symptom = Symptom.model_validate(raw)
            if symptom.id in symptoms:
                raise ValueError(f"kb/{name}: symptom id {symptom.id!r} defined twice")
            symptoms[symptom.id] = symptom
        for raw in doc.get("conditions", []):
            try:
                condition = Condition.model_validate(raw)
            except Exception as exc:
                raise ValueError(f"kb/{name}: condition {raw.get('id')!r}: {exc}") from exc
            if condition.id in conditions:
                raise ValueError(f"kb/{name}: condition id {condition.id!r} defined twice")
            conditions[condition.id] = condition
    _cross_check(conditions, symptoms)
    by_alias: dict[str, str] = {}
    for condition in conditions.values():
        for alias in (condition.id, condition.name, condition.name_zh, *condition.aliases):
            by_alias.setdefault(alias.strip().lower(), condition.id)
    return KnowledgeBase(version, conditions, symptoms, by_alias)


def _cross_check(conditions: dict[str, Condition], symptoms: dict[str, Symptom]) -> None:
    known_obs = observation_keys()
    problems: list[str] = []
    for condition in conditions.values():
        for link in condition.symptoms:
            if link.id not in symptoms:
                problems.append(f"{condition.id}: unknown symptom {link.id!r}")
        for key in condition.observations:
            if key not in known_obs:
                problems.append(f"{condition.id}: unknown observation {key!r}")
    if problems:
        raise ValueError("knowledge base is inconsistent:\n  " + "\n  ".join(problems))
