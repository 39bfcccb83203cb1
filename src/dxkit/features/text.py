"""Render a whole case as one readable text, the input of the text models.

Why text: the language models read structured facts best when they are written the way a
clinician would write them ("Temperature 38.9 Cel (high)"), so one serialisation serves the
TF-IDF, RNN and transformer models alike. Chinese notes keep their language; the structured
part is always English keywords so the vocabulary stays shared across languages.
"""

from __future__ import annotations

from dxkit.cases.schema import Case, public_age
from dxkit.quality.catalogue import catalogue_by_loinc


def _flag(value: float, low: float, high: float) -> str:
    if value < low:
        return "low"
    if value > high:
        return "high"
    return "normal"


def observation_phrases(case: Case, *, flag_keys: bool = True) -> list[str]:
    """One phrase per observation: name, value, unit and a normal/high/low flag.

    Values are converted to the canonical unit first, so "101.3 [degF]" and "38.5 Cel"
    render alike; unknown codes keep their code and unit and get no flag. ``flag_keys``
    appends one joined token such as ``heart_rate_high``, which a bag-of-words model
    needs to tie the flag to its measurement; a transformer reads "heart rate ... high"
    in order and only pays for the extra sub-word pieces, so it asks for plain phrases.
    """
    specs = catalogue_by_loinc()
    phrases = []
    for obs in case.observations:
        spec = specs.get(obs.code)
        if spec is None:
            phrases.append(f"observation {obs.code} {obs.value:g} {obs.unit}")
            continue
        value = spec.to_canonical(obs.value, obs.unit)
        if value is None:
            phrases.append(f"{spec.name} {obs.value:g} {obs.unit}")
            continue
        flag = _flag(value, *spec.normal)
        key = f" {spec.key}_{flag}" if flag_keys else ""
        phrases.append(f"{spec.name} {value:.4g} {spec.unit} {flag}{key}")
    return phrases


_LIFE_STAGES = (
    (1, "infant"),
    (5, "young child"),
    (13, "child"),
    (18, "adolescent"),
    (40, "young adult"),
    (65, "middle-aged adult"),
    (200, "older adult"),
)


def life_stage(age: float) -> str:
    """A word for the age group, so text models can use age without parsing numbers.

    >>> life_stage(0.5), life_stage(16), life_stage(71)
    ('infant', 'adolescent', 'older adult')
    """
    return next(word for limit, word in _LIFE_STAGES if age < limit)


def structured_text(case: Case, *, flag_keys: bool = True) -> str:
    """The non-note part of a case as short English sentences."""
    parts: list[str] = []
    age = public_age(case.age)
    if age is not None and case.age is not None:
        parts.append(f"Age {age} ({life_stage(case.age)}).")
    if case.sex.value != "unknown":
        parts.append(f"Sex {case.sex.value}.")
    life = case.lifestyle
    for label, value in (
        ("Smoking", life.smoking),
        ("Alcohol", life.alcohol),
        ("Activity", life.activity),
        ("Occupation", life.occupation),
    ):
        if value:
            parts.append(f"{label}: {value}.")
    hist = case.history
    for label, items in (
        ("History", hist.past_conditions),
        ("Medications", hist.medications),
        ("Allergies", hist.allergies),
        ("Family history", hist.family_history),
    ):
        if items:
            parts.append(f"{label}: {', '.join(items)}.")
    phrases = observation_phrases(case, flag_keys=flag_keys)
    if phrases:
        parts.append("Observations: " + "; ".join(phrases) + ".")
    return " ".join(parts)


def case_to_text(case: Case, *, flag_keys: bool = True) -> str:
    """Notes first (the richest signal), then the structured facts.

    ``flag_keys``: see :func:`observation_phrases`.

    >>> from dxkit.cases.schema import Case, Observation
    >>> c = Case(case_id="1", age=93, sex="F", notes="Cough for 3 days.",
    ...          observations=[Observation(code="8310-5", value=101.3, unit="[degF]")])
    >>> text = case_to_text(c)
    >>> text.startswith("Cough for 3 days. Age 90+ (older adult). Sex female. Observations:")
    True
    >>> "body temperature 38.5 Cel high temperature_high" in text
    True
    """
    structured = structured_text(case, flag_keys=flag_keys)
    notes = case.notes.strip()
    return f"{notes} {structured}".strip() if notes else structured
