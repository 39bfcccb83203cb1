"""Case-level de-identification: every text field, ages, observation times, idempotency."""

from __future__ import annotations

from datetime import datetime

from rich.console import Console

from dxkit.cases.schema import Case, History, LabeledCase, Lifestyle, Observation
from dxkit.deid.cases import deidentify_case, deidentify_cases, deidentify_for_pipeline
from dxkit.deid.engine import Detector
from dxkit.deid.replace import Deidentifier, Policy
from dxkit.deid.types import PhiKind


def _case(case_id: str = "c1", patient_id: str | None = "p1") -> Case:
    return Case(
        case_id=case_id,
        patient_id=patient_id,
        age=94,
        notes="Seen by Dr. Okonkwo on 03/14/2023. Chest pain, BP 150/95. Call 617-555-0123.",
        history=History(family_history=["mother (Ruth Okonkwo) had breast cancer"]),
        lifestyle=Lifestyle(
            smoking="current, since 03/14/2001",
            alcohol="none",
            activity="walks with Dr. Okonkwo",
            occupation="nurse at St. Jude Medical Center",
        ),
        observations=[
            Observation(
                code="8867-4",
                value=96,
                unit="/min",
                time=datetime(2023, 3, 14, 8, 30),
                source="monitor SN: MX4500-2231",
            ),
            Observation(code="8867-4", value=90, unit="/min", time=datetime(2023, 3, 14, 9, 30)),
        ],
    )


def test_every_text_field_is_cleaned_and_the_case_marked(detector: Detector) -> None:
    case = _case()
    clean = deidentify_case(
        case, Deidentifier(Policy.TAG, key="test-key-0123456789", detector=detector)
    )
    assert clean.deidentified and not case.deidentified  # a copy; the input is untouched
    assert clean.notes == "Seen by Dr. [NAME] on [DATE]. Chest pain, BP 150/95. Call [PHONE]."
    assert clean.history.family_history == ["mother ([NAME]) had breast cancer"]
    assert clean.lifestyle.occupation == "nurse at [LOCATION]"
    assert clean.lifestyle.smoking == "current, since [DATE]"
    assert clean.lifestyle.activity == "walks with Dr. [NAME]"
    assert clean.lifestyle.alcohol == "none"
    assert clean.observations[0].source == "monitor SN: [DEVICE]"
    assert clean.age == 90  # HIPAA: ages over 89 become "90 or older"


def test_observation_times_move_with_the_patients_dates(detector: Detector) -> None:
    deidentifier = Deidentifier(
        Policy.SURROGATE, key="test-key-0123456789", patient_id="p1", detector=detector
    )
    clean = deidentify_case(_case(), deidentifier)
    first, second = (obs.time for obs in clean.observations)
    assert first is not None and second is not None
    assert (first - datetime(2023, 3, 14, 8, 30)).days == deidentifier.date_shift_days
    assert (second - first).total_seconds() == 3600  # the interval survives
    removed = deidentify_case(_case(), Deidentifier(Policy.REMOVE, detector=detector))
    assert all(obs.time is None for obs in removed.observations)


def test_a_marked_case_is_returned_unchanged(detector: Detector) -> None:
    deidentifier = Deidentifier(Policy.SURROGATE, key="test-key-0123456789", detector=detector)
    once = deidentify_case(_case(), deidentifier)
    assert deidentify_case(once, deidentifier) is once


def test_cases_of_one_patient_share_surrogates_and_offset(detector: Detector) -> None:
    labeled = [
        LabeledCase(case=_case("c1", "p1"), label="x"),
        LabeledCase(case=_case("c2", "p1"), label="x"),
        LabeledCase(case=_case("c3", "p2"), label="x"),
    ]
    clean, counts = deidentify_cases(
        labeled, policy=Policy.SURROGATE, key="fixed-key-0123456789", detector=detector
    )
    assert clean[0].case.notes == clean[1].case.notes  # same patient, same surrogates
    assert clean[0].case.notes != clean[2].case.notes
    assert all(item.label == "x" for item in clean)
    assert counts[PhiKind.NAME] == 9 and counts[PhiKind.DATE] == 6  # 3 of each per case


def test_pipeline_step_reports_counts_only(detector: Detector) -> None:
    console = Console(record=True, width=200)
    clean = deidentify_for_pipeline([_case()], console=console)
    printed = console.export_text()
    assert "de-identified 1 case; replaced" in printed and "NAME" in printed
    assert "Okonkwo" not in printed and "Okonkwo" not in clean[0].notes
    quiet = Console(record=True)
    assert deidentify_for_pipeline(clean, console=quiet) == clean
    assert quiet.export_text() == ""


def test_a_name_from_the_notes_is_found_in_other_fields(detector: Detector) -> None:
    case = Case(
        case_id="c9",
        notes="Seen by Dr. Qwertzu.",
        history=History(family_history=["Qwertzu says father had MI"]),
    )
    clean = deidentify_case(case, Deidentifier(Policy.TAG, detector=detector))
    assert clean.history.family_history == ["[NAME] says father had MI"]
