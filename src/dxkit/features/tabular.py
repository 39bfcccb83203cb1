"""The structured part of a case as a fixed-length numeric vector.

Why a vector beside the text: a text model sees "heart rate 128 /min high" as tokens and
cannot tell 128 from 180; the vector gives every model the measured values themselves, on
one comparable scale, with an explicit flag for "not measured" (absence is information:
nobody orders a troponin for a sprained ankle).

Layout (see :func:`tabular_feature_names`), all derived from the observation catalogue in
``resources/observations.yaml`` so a new observation type needs no code change:

* ``age`` (years / 100) and ``age_missing``;
* ``sex_female``, ``sex_male``, ``sex_other``, ``sex_unknown`` (one-hot);
* per catalogue key: ``<key>_z``, the value relative to the normal range (0 at its centre,
  +/-1 at its limits, clipped to +/-:data:`Z_CLIP`; 0 when absent), and ``<key>_present``;
* lifestyle flags: current/former smoker, heavy/moderate alcohol, sedentary/active.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dxkit.cases.schema import Case, Sex
from dxkit.quality.catalogue import ObservationSpec, catalogue_by_key, catalogue_by_loinc

Z_CLIP = 10.0  # a value 10 half-ranges out is extreme enough; clipping bounds its weight
AGE_SCALE = 100.0  # years

_SEXES = (Sex.female, Sex.male, Sex.other, Sex.unknown)
# (feature name, lifestyle field, accepted values) — values as documented in the schema.
_LIFESTYLE_FLAGS: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("smoking_current", "smoking", frozenset({"current", "yes", "smoker"})),
    ("smoking_former", "smoking", frozenset({"former", "ex", "quit"})),
    ("alcohol_heavy", "alcohol", frozenset({"heavy"})),
    ("alcohol_moderate", "alcohol", frozenset({"moderate", "light"})),
    ("activity_sedentary", "activity", frozenset({"sedentary", "low"})),
    ("activity_active", "activity", frozenset({"active", "high"})),
)


def tabular_feature_names() -> list[str]:
    """Names of the vector's columns, in order; saved with models to detect a changed layout.

    >>> names = tabular_feature_names()
    >>> names[:3], "temperature_z" in names, names[-1]
    (['age', 'age_missing', 'sex_female'], True, 'activity_active')
    """
    names = ["age", "age_missing", *(f"sex_{s.value}" for s in _SEXES)]
    for key in catalogue_by_key():
        names += [f"{key}_z", f"{key}_present"]
    names += [name for name, _, _ in _LIFESTYLE_FLAGS]
    return names


def range_score(spec: ObservationSpec, value: float) -> float:
    """How far ``value`` (canonical unit) lies from the centre of the normal range.

    The unit is half the normal range, so the normal limits map to -1 and +1 and values
    from different observations become comparable. Ranges of zero width (e.g. urine
    nitrite, normal 0) fall back to half the "unusual" range, then to 1.

    >>> spec = catalogue_by_key()["heart_rate"]  # normal 60-100 /min
    >>> range_score(spec, 80), range_score(spec, 100), range_score(spec, 140)
    (0.0, 1.0, 3.0)
    """
    low, high = spec.normal
    centre = (low + high) / 2
    scale = (high - low) / 2
    if scale <= 0:
        scale = (spec.unusual[1] - spec.unusual[0]) / 2
    if scale <= 0:
        scale = 1.0
    return float(np.clip((value - centre) / scale, -Z_CLIP, Z_CLIP))


def _latest_values(case: Case) -> dict[str, float]:
    """Canonical value per catalogue key; the latest reading wins when there are several.

    Timed readings sort after untimed ones (timestamps compare naive and aware times alike);
    otherwise list order holds (later in the list = later). Readings in a unit
    that cannot be converted are skipped, as their value cannot be placed on the scale.
    """
    by_loinc = catalogue_by_loinc()
    ordered = sorted(
        enumerate(case.observations),
        key=lambda item: (
            item[1].time is not None,
            item[1].time.timestamp() if item[1].time is not None else 0.0,
            item[0],
        ),
    )
    values: dict[str, float] = {}
    for _, obs in ordered:
        spec = by_loinc.get(obs.code)
        if spec is None:
            continue
        value = spec.to_canonical(obs.value, obs.unit)
        if value is not None and np.isfinite(value):
            values[spec.key] = value
    return values


def tabular_features(case: Case) -> np.ndarray:
    """The vector of one case, shape (n_features,), float32, in :func:`tabular_feature_names` order.

    >>> from dxkit.cases.schema import Observation
    >>> c = Case(case_id="1", age=50, sex="male",
    ...          observations=[Observation(code="8867-4", value=140, unit="/min")])
    >>> v = dict(zip(tabular_feature_names(), tabular_features(c).tolist()))
    >>> v["age"], v["sex_male"], v["heart_rate_z"], v["heart_rate_present"], v["spo2_present"]
    (0.5, 1.0, 3.0, 1.0, 0.0)
    """
    features: list[float] = []
    if case.age is None:
        features += [0.0, 1.0]
    else:
        features += [case.age / AGE_SCALE, 0.0]
    features += [1.0 if case.sex == s else 0.0 for s in _SEXES]
    values = _latest_values(case)
    for key, spec in catalogue_by_key().items():
        if key in values:
            features += [range_score(spec, values[key]), 1.0]
        else:
            features += [0.0, 0.0]
    life = case.lifestyle
    for _, field, accepted in _LIFESTYLE_FLAGS:
        raw = getattr(life, field)
        features.append(1.0 if raw is not None and raw.strip().lower() in accepted else 0.0)
    return np.asarray(features, dtype=np.float32)


def tabular_matrix(cases: Sequence[Case]) -> np.ndarray:
    """Vectors of many cases stacked, shape (n_cases, n_features), float32."""
    if not cases:
        return np.zeros((0, len(tabular_feature_names())), dtype=np.float32)
    return np.stack([tabular_features(c) for c in cases])
