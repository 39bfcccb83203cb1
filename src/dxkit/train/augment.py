"""Data augmentation for small training sets: evidence dropout and phrase paraphrases.

Real notes are incomplete and worded in many ways; a model trained on a few hundred tidy
cases overfits to one wording and to complete evidence. Dropping clauses and observations
teaches it to diagnose from partial evidence, and swapping synonyms ("shortness of breath"
/ "breathlessness", "发烧" / "发热") teaches it that wording does not change the disease.

Apply augmentation to the **train part only**, after splitting: augmented copies keep the
original ``patient_id``, so a patient-disjoint split stays disjoint, but copies of a test
case in train would still leak its wording.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from dxkit.cases.schema import LabeledCase
from dxkit.errors import InputError

# Clause ends: English and Chinese sentence and clause punctuation (kept with the clause).
_CLAUSE = re.compile(r"[^.;!?。；！？，]+[.;!?。；！？，]*")


@dataclass(frozen=True)
class _Swap:
    pattern: re.Pattern[str]
    options: tuple[str, ...]  # replacements; the matched phrase itself is excluded at use
    needles: tuple[str, ...]  # lower-cased phrases the pattern matches: a cheap pre-check


def _compile(phrases: Sequence[str]) -> re.Pattern[str]:
    """One alternation, longest first, whole words for Latin-script phrases."""
    parts = []
    for phrase in sorted(phrases, key=len, reverse=True):
        body = re.escape(phrase)
        if phrase.isascii():
            body = rf"(?<![\w']){body}(?![\w'])"
        parts.append(body)
    return re.compile("|".join(parts), re.IGNORECASE)


@cache
def paraphrase_rules() -> tuple[_Swap, ...]:
    """Swaps from ``resources/paraphrases.yaml`` (synonym groups, then one-way rewrites)."""
    text = resources.files("dxkit.resources").joinpath("paraphrases.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)
    swaps = [
        _Swap(_compile(group), tuple(group), tuple(g.lower() for g in group))
        for group in raw.get("synonyms", [])
    ]
    for rule in raw.get("rewrites", []):
        source = str(rule["from"])
        swaps.append(_Swap(_compile([source]), tuple(rule["to"]), (source.lower(),)))
    return tuple(swaps)


def _match_case(original: str, replacement: str) -> str:
    if original[:1].isupper() and replacement[:1].islower():
        return replacement[0].upper() + replacement[1:]
    return replacement


def paraphrase_text(text: str, rng: random.Random, p: float = 0.7) -> str:
    """Apply each matching swap with probability ``p``; at least one if any matches."""
    lower = text.lower()
    applicable = [
        s
        for s in paraphrase_rules()
        if any(n in lower for n in s.needles) and s.pattern.search(text)
    ]
    if not applicable:
        return text
    chosen = [s for s in applicable if rng.random() < p] or [rng.choice(applicable)]
    for swap in chosen:

        def replace(match: re.Match[str], swap: _Swap = swap) -> str:
            found = match.group(0)
            options = [o for o in swap.options if o.lower() != found.lower()] or [found]
            return _match_case(found, rng.choice(options))

        text = swap.pattern.sub(replace, text)
    return text


def paraphrase(lc: LabeledCase, rng: random.Random) -> LabeledCase:
    """A copy of ``lc`` whose notes use other, equivalent phrases (same label)."""
    case = lc.case.model_copy(update={"notes": paraphrase_text(lc.case.notes, rng)})
    return lc.model_copy(update={"case": case})


def evidence_dropout(lc: LabeledCase, rng: random.Random, p: float = 0.2) -> LabeledCase:
    """A copy with each note clause and each observation dropped with probability ``p``.

    At least one piece of evidence (a clause or an observation) is always kept, so no
    copy is left with nothing to diagnose from.
    """
    if not 0 <= p < 1:
        raise InputError(
            "dropout probability",
            expected="0 <= p < 1",
            found=f"p={p}",
            fix="use a small probability such as 0.2",
        )
    clauses = [c for c in _CLAUSE.findall(lc.case.notes) if c.strip()]
    observations = list(lc.case.observations)
    keep_c = [rng.random() >= p for _ in clauses]
    keep_o = [rng.random() >= p for _ in observations]
    total = len(clauses) + len(observations)
    if total and not any(keep_c) and not any(keep_o):
        pick = rng.randrange(total)
        if pick < len(clauses):
            keep_c[pick] = True
        else:
            keep_o[pick - len(clauses)] = True
    notes = "".join(c for c, k in zip(clauses, keep_c, strict=True) if k).strip()
    kept = [o for o, k in zip(observations, keep_o, strict=True) if k]
    case = lc.case.model_copy(update={"notes": notes, "observations": kept})
    return lc.model_copy(update={"case": case})


def augment(labeled: Sequence[LabeledCase], factor: int = 2, seed: int = 0) -> list[LabeledCase]:
    """The originals plus ``factor - 1`` augmented copies of each (paraphrase + dropout).

    Copies get case ids ``<id>-aug1``, ``<id>-aug2``... and the original patient id (the
    original case id when it had none), so group-aware code treats them as one patient.
    Use on the train part only. Seeded: the same input and seed give the same output.

    >>> from dxkit.cases.schema import Case
    >>> lc = LabeledCase(case=Case(case_id="c1", notes="I have a fever."), label="flu")
    >>> [x.case.case_id for x in augment([lc], factor=3)]
    ['c1', 'c1-aug1', 'c1-aug2']
    """
    if factor < 1:
        raise InputError(
            "augmentation factor",
            expected="an integer >= 1 (1 means no augmentation)",
            found=f"factor={factor}",
            fix="use factor=2 to double the training set",
        )
    rng = random.Random(seed)
    out = list(labeled)
    for lc in labeled:
        patient = lc.case.patient_id or lc.case.case_id
        for j in range(1, factor):
            copy = evidence_dropout(paraphrase(lc, rng), rng)
            case = copy.case.model_copy(
                update={"case_id": f"{lc.case.case_id}-aug{j}", "patient_id": patient}
            )
            out.append(copy.model_copy(update={"case": case}))
    return out
