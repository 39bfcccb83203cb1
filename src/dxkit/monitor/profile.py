"""The training reference: a compact profile of the data a model was trained on.

Why a profile rather than the training file: the model directory travels to where the
model serves, the training data often may not (it holds patient data). The profile holds
only shares of coarse bins - age band, sex, note language and length, each observation
absent/low/normal/high - plus the mix of predicted conditions, top-1 accuracy, ECE and
abstention rate, which is all drift monitoring needs and reveals no single patient.
"""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dxkit.cases.schema import Case, LabeledCase, age_band
from dxkit.errors import InputError, ModelFormatError
from dxkit.models.base import DiagnosisModel, atomic_write_text

REFERENCE_FILE = "reference.json"
PROFILE_VERSION = 1
MAX_REFERENCE_CASES = 500  # bin shares within ~2 points; keeps `dxkit train` quick
NOTE_LENGTH_EDGES = (1, 100, 200, 400, 800)  # characters; bins "0", "1-99", ... "800+"


@dataclass(frozen=True)
class ReferenceProfile:
    """Shares of each feature's bins and of predicted conditions, with reference metrics.

    Attributes:
        n: cases profiled.
        features: ``{feature: {bin: share}}``; shares of one feature sum to 1.
        conditions: share of cases whose top prediction is each condition (by name).
        top1: top-1 accuracy on the profiled cases.
        ece: expected calibration error (held-out calibration set where the model has one).
        abstain_rate: share of answers that referred the case to a clinician.
    """

    n: int
    features: dict[str, dict[str, float]]
    conditions: dict[str, float]
    top1: float | None = None
    ece: float | None = None
    abstain_rate: float | None = None
    source: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the format version."""
        return {"version": PROFILE_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReferenceProfile:
        """Read :meth:`to_dict` output; other versions are refused."""
        if data.get("version") != PROFILE_VERSION:
            raise ModelFormatError(
                REFERENCE_FILE,
                expected=f"a reference profile of version {PROFILE_VERSION}",
                found=f"version {data.get('version')!r}",
                fix="retrain the model, or pass --reference TRAIN_FILE",
            )
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**fields)


def language(notes: str) -> str:
    """``zh`` when the note holds CJK characters, ``en`` when other text, ``none`` if empty."""
    if not notes.strip():
        return "none"
    return "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in notes) else "en"


def note_length_bin(length: int) -> str:
    """The note-length bin of ``length`` characters.

    >>> note_length_bin(0), note_length_bin(150), note_length_bin(5000)
    ('0', '100-199', '800+')
    """
    if length < NOTE_LENGTH_EDGES[0]:
        return "0"
    for low, high in itertools.pairwise(NOTE_LENGTH_EDGES):
        if low <= length < high:
            return f"{low}-{high - 1}"
    return f"{NOTE_LENGTH_EDGES[-1]}+"


def case_features(case: Case) -> dict[str, str]:
    """The binned input features of one case (observations in canonical units)."""
    from dxkit.quality.catalogue import catalogue_by_key, catalogue_by_loinc

    by_loinc = catalogue_by_loinc()
    values: dict[str, float] = {}
    for obs in case.observations:
        spec = by_loinc.get(obs.code)
        value = spec.to_canonical(obs.value, obs.unit) if spec else None
        if spec is not None and value is not None:
            values[spec.key] = value
    features = {
        "age": age_band(case.age),
        "sex": case.sex.value,
        "language": language(case.notes),
        "note_length": note_length_bin(len(case.notes)),
    }
    for key, spec in catalogue_by_key().items():
        value = values.get(key)
        low, high = spec.normal
        band = (
            "absent"
            if value is None
            else "low"
            if value < low
            else "high"
            if value > high
            else "normal"
        )
        features[f"obs.{key}"] = band
    return features


def shares(values: Iterable[str]) -> dict[str, float]:
    """Share of each distinct value, sorted by value."""
    counts = Counter(values)
    total = sum(counts.values())
    return {k: counts[k] / total for k in sorted(counts)} if total else {}


def feature_histograms(cases: Sequence[Case]) -> dict[str, dict[str, float]]:
    """``{feature: {bin: share}}`` over ``cases``."""
    rows = [case_features(case) for case in cases]
    names = sorted({name for row in rows for name in row})
    return {name: shares(row[name] for row in rows if name in row) for name in names}


def sample(labeled: Sequence[LabeledCase], limit: int, seed: int = 0) -> list[LabeledCase]:
    """At most ``limit`` cases, drawn reproducibly."""
    if len(labeled) <= limit:
        return list(labeled)
    return random.Random(seed).sample(list(labeled), limit)


def build_reference(
    model: DiagnosisModel, labeled: Sequence[LabeledCase], *, limit: int = MAX_REFERENCE_CASES
) -> ReferenceProfile:
    """Profile ``labeled`` and ``model``'s answers on it (as the service would give them).

    The answers go through :func:`dxkit.report.diagnose.diagnose`, so the condition mix
    uses the same condition names and the same abstention rule as the stored predictions.
    """
    from dxkit.pipeline import keep_valid
    from dxkit.report.diagnose import diagnose

    kept, _ = keep_valid(sample(labeled, limit))
    if not kept:
        raise InputError(
            "reference data",
            expected="cases that pass validation",
            found="none",
            fix="run `dxkit check FILE`",
        )
    cases = [lc.case for lc in kept]
    proba = model.predict_proba(cases)
    answers = diagnose(model, cases, top=1, strict=False, evidence=0, predict=lambda _: proba)
    labels = np.asarray(model.labels)
    truth = np.asarray([lc.label for lc in kept])
    correct = labels[proba.argmax(axis=1)] == truth
    from dxkit.monitor.drift import ece

    report = getattr(model, "report", None)
    held_out = report.get("ece_after") if isinstance(report, dict) else None
    return ReferenceProfile(
        n=len(kept),
        features=feature_histograms(cases),
        conditions=shares(answer.top.name for answer in answers),
        top1=float(correct.mean()),
        ece=float(held_out) if held_out is not None else ece(proba.max(axis=1), correct),
        abstain_rate=float(np.mean([answer.abstain for answer in answers])),
        source={"ece": "calibration set" if held_out is not None else "training data"},
    )


def write_reference(model_dir: Path, profile: ReferenceProfile) -> Path:
    """Write ``reference.json`` into the model directory atomically."""
    target = Path(model_dir) / REFERENCE_FILE
    atomic_write_text(target, json.dumps(profile.to_dict(), indent=1, ensure_ascii=False))
    return target


def read_reference(model_dir: Path) -> ReferenceProfile | None:
    """The model directory's reference profile, or ``None`` when it has none."""
    path = Path(model_dir) / REFERENCE_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise ModelFormatError(
            REFERENCE_FILE,
            expected="valid JSON",
            found=f"an unreadable {REFERENCE_FILE}",
            fix="delete it and pass --reference TRAIN_FILE",
        ) from None
    return ReferenceProfile.from_dict(data)
