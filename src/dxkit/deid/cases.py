"""De-identify whole cases: every free-text field, device sources, ages and times.

The pipeline calls this before a case is stored, logged or sent anywhere. Text fields
(notes, history items, occupation, device sources) go through one
:class:`~dxkit.deid.replace.Deidentifier` per patient, so a relative named in the notes
and in the family history gets one surrogate and all of the patient's dates move by one
offset. Observation times move by the same offset (intervals between readings are what
the forecasting models use) and are dropped under ``remove``. Ages over 89 become 90, the
HIPAA "90 or older" category. A case marked ``deidentified`` is returned unchanged,
which makes the whole step idempotent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import TypeVar

from rich.console import Console
from rich.progress import Progress

from dxkit.cases.schema import AGE_CAP, Case, LabeledCase
from dxkit.deid.engine import Detector
from dxkit.deid.replace import Deidentifier, Policy
from dxkit.deid.types import PhiKind

T = TypeVar("T", Case, LabeledCase)


def deidentify_case(case: Case, deidentifier: Deidentifier) -> Case:
    """A de-identified copy of ``case`` (the input is not modified)."""
    if case.deidentified:
        return case
    clean = deidentifier.deidentify

    def text(value: str) -> str:
        return clean(value).text if value.strip() else value

    def items(values: list[str]) -> list[str]:
        return [text(value) for value in values]

    notes = text(case.notes)  # first: names found here are then looked for elsewhere
    shift = timedelta(days=deidentifier.date_shift_days)
    observations = []
    for obs in case.observations:
        time = obs.time
        if time is not None:
            time = None if deidentifier.policy is Policy.REMOVE else time + shift
        source = text(obs.source) if obs.source else obs.source
        observations.append(obs.model_copy(update={"time": time, "source": source}))
    history = case.history.model_copy(
        update={
            "past_conditions": items(case.history.past_conditions),
            "medications": items(case.history.medications),
            "allergies": items(case.history.allergies),
            "family_history": items(case.history.family_history),
        }
    )
    # every lifestyle field is free text ("current, 20/day since her husband Tom died")
    lifestyle = case.lifestyle.model_copy(
        update={
            name: text(value)
            for name, value in case.lifestyle.model_dump().items()
            if isinstance(value, str) and value
        }
    )
    age = case.age
    if age is not None and int(age) > AGE_CAP:
        age = float(AGE_CAP + 1)
    return case.model_copy(
        update={
            "notes": notes,
            "history": history,
            "lifestyle": lifestyle,
            "observations": observations,
            "age": age,
            "deidentified": True,
        }
    )


def deidentify_cases(
    cases: Sequence[T],
    *,
    policy: Policy | str = Policy.TAG,
    key: bytes | str | None = None,
    detector: Detector | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[list[T], Counter[PhiKind]]:
    """De-identified copies of ``cases`` (plain or labelled) and counts by kind.

    One :class:`Deidentifier` per patient (``patient_id``, else ``case_id``), so a
    patient's cases share surrogates and one date offset.
    """
    detector = detector or Detector()
    per_patient: dict[str, Deidentifier] = {}
    counts: Counter[PhiKind] = Counter()
    out: list[T] = []
    for index, item in enumerate(cases):
        case = item.case if isinstance(item, LabeledCase) else item
        patient = case.patient_id or case.case_id
        if patient not in per_patient:
            per_patient[patient] = Deidentifier(
                policy, key=key, patient_id=patient, detector=detector
            )
        deidentifier = per_patient[patient]
        before = Counter(deidentifier.counts)
        clean = deidentify_case(case, deidentifier)
        counts.update(deidentifier.counts - before)
        if isinstance(item, LabeledCase):
            out.append(item.model_copy(update={"case": clean}))
        else:
            out.append(clean)
        if on_progress is not None:
            on_progress(index + 1)
    return out, counts


def needs_deidentification(cases: Iterable[Case | LabeledCase]) -> int:
    """How many of ``cases`` are not yet marked de-identified."""
    return sum(
        not (item.case if isinstance(item, LabeledCase) else item).deidentified for item in cases
    )


def deidentify_for_pipeline(cases: Sequence[T], *, console: Console) -> list[T]:
    """What the pipeline runs on every case it reads: tags, with a progress bar and a
    one-line summary of the counts (never the values)."""
    todo = needs_deidentification(cases)
    if todo == 0:
        return list(cases)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("de-identifying notes", total=len(cases))
        with console.status("loading the de-identification rules"):
            detector = Detector()
        clean, counts = deidentify_cases(
            cases,
            detector=detector,
            on_progress=lambda done: progress.update(task, completed=done),
        )
    if counts:  # silence when there was nothing to replace
        found = ", ".join(f"{kind.value} {count}" for kind, count in counts.most_common())
        noun = "case" if todo == 1 else "cases"
        console.print(f"de-identified {todo} {noun}; replaced {found}")
    return clean
