"""The repository: what a request stores, reads back, and never stores."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import JSON, Engine, String, Text, func, select
from sqlalchemy.orm import Session, sessionmaker

from dxkit.cases.schema import Case
from dxkit.errors import InputError
from dxkit.report.differential import Differential
from dxkit.service.storage import (
    AuditEntry,
    Base,
    FeedbackCounts,
    StoredCase,
    get_case,
    live_accuracy,
    pseudonym,
    record_audit,
    record_feedback,
    session_scope,
    store_case_and_prediction,
)

SECRET = b"test-secret-0123456789abcdef"
PATIENT_ID = "patient-4711-raw"  # the id the storage_case fixture gives its cases
CANARY_NAME = "Zebulon Quackenbush"
CANARY_NUMBER = "MRN 8675309"
CLINICIAN = pseudonym("dr-who", SECRET)

MakeCase = Callable[..., Case]
MakeAnswer = Callable[..., Differential]
Sessions = sessionmaker[Session]
Store = Callable[..., tuple[str, str]]


@pytest.fixture
def store(storage_sessions: Sessions, storage_case: MakeCase, storage_answer: MakeAnswer) -> Store:
    """Stores one answered case per call (its own transaction); returns the two ids."""

    def _store(notes: str = "fever") -> tuple[str, str]:
        with session_scope(storage_sessions) as session:
            ids = store_case_and_prediction(
                session, storage_case(notes), storage_answer(), None, SECRET
            )
        return ids.case_id, ids.prediction_id

    return _store


def _all_text(engine: Engine) -> dict[str, list[str]]:
    """Every value of every table as stored (raw SQL, no decoding), by ``table.column``."""
    found: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.exec_driver_sql(f"SELECT * FROM {table.name}").mappings():
                for column, value in row.items():
                    found.setdefault(f"{table.name}.{column}", []).append(str(value))
    return found


def test_store_and_get_roundtrip(storage_sessions: Sessions, store: Store) -> None:
    case_id, prediction_id = store()
    with session_scope(storage_sessions) as session:
        stored = get_case(session, case_id)
    assert stored is not None
    assert stored.case().notes == "fever" and stored.case().patient_id is None
    assert stored.case_json["age"] == "90+"  # stored as it may leave the process
    assert stored.case().age == 90
    (prediction,) = stored.predictions  # loaded eagerly: usable after the session closed
    assert prediction.id == prediction_id
    assert prediction.top_condition == "Pneumonia" and prediction.top_probability == 0.7
    assert prediction.probabilities == {"Pneumonia": 0.7, "Bronchitis": 0.2}
    assert prediction.prediction_set == ["Pneumonia", "Bronchitis"]
    assert prediction.model_id == "abc123def456" and not prediction.abstained
    assert prediction.triage == "urgent" and prediction.model_kind == "tfidf"
    assert prediction.model_trained_at is not None
    assert prediction.model_trained_at.isoformat() == "2026-01-02T03:04:05+00:00"
    with session_scope(storage_sessions) as session:
        assert get_case(session, "no-such-case") is None


def test_patient_key_is_an_hmac_and_the_raw_id_is_nowhere(
    storage_engine: Engine, storage_sessions: Sessions, store: Store
) -> None:
    store()
    store()
    expected = hmac.new(SECRET, PATIENT_ID.encode(), hashlib.sha256).hexdigest()
    with session_scope(storage_sessions) as session:
        keys = session.scalars(select(StoredCase.patient_key)).all()
    assert keys == [expected, expected]  # same id + secret -> same key: cases link up
    assert pseudonym(PATIENT_ID, b"another-secret-0123456789") != expected
    text_columns = {
        f"{table.name}.{column.name}"
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, String | Text | JSON)
    }
    scanned = _all_text(storage_engine)
    assert {"cases.case_json", "cases.patient_key"} <= text_columns & set(scanned)
    for column in text_columns & set(scanned):
        assert not any(PATIENT_ID in value for value in scanned[column]), column


def test_short_secret_is_refused(
    storage_sessions: Sessions, storage_case: MakeCase, storage_answer: MakeAnswer
) -> None:
    with (
        pytest.raises(InputError, match="at least 16 bytes; found 5 bytes"),
        session_scope(storage_sessions) as session,
    ):
        store_case_and_prediction(session, storage_case(), storage_answer(), None, "short")


def test_answer_for_another_case_is_refused(
    storage_sessions: Sessions, storage_case: MakeCase, storage_answer: MakeAnswer
) -> None:
    with (
        pytest.raises(InputError, match="whose case_id differs"),
        session_scope(storage_sessions) as session,
    ):
        store_case_and_prediction(session, storage_case(), storage_answer("c-2"), None, SECRET)


def test_failed_request_leaves_nothing_behind(
    storage_engine: Engine,
    storage_sessions: Sessions,
    storage_case: MakeCase,
    storage_answer: MakeAnswer,
) -> None:
    with (
        pytest.raises(RuntimeError, match="model crashed"),
        session_scope(storage_sessions) as session,
    ):
        store_case_and_prediction(session, storage_case(), storage_answer(), None, SECRET)
        record_audit(
            session, endpoint="/v1/diagnose", method="POST", status_code=200, request_id="r1"
        )
        session.flush()  # the rows are in the database's transaction now
        raise RuntimeError("model crashed after the insert")
    with storage_engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0


def test_canary_only_in_the_case_column(
    storage_engine: Engine, storage_sessions: Sessions, store: Store
) -> None:
    notes = f"{CANARY_NAME} ({CANARY_NUMBER}) has had fever and cough for three days"
    _, prediction_id = store(notes)
    with session_scope(storage_sessions) as session:
        record_audit(
            session,
            endpoint="/v1/diagnose",
            method="POST",
            status_code=200,
            request_id="req-1",
            actor_key=CLINICIAN,
            patient_key=pseudonym(PATIENT_ID, SECRET),
            scopes=["clinician"],
        )
        record_feedback(
            session, prediction_id=prediction_id, verdict="confirmed", clinician_key=CLINICIAN
        )
    for canary in (CANARY_NAME, CANARY_NUMBER):
        scanned = _all_text(storage_engine)
        holding = {col for col, values in scanned.items() if any(canary in v for v in values)}
        assert holding == {"cases.case_json"}  # stored as given: de-identifying is upstream
    refused: list[dict[str, Any]] = [
        {"endpoint": f"/v1/diagnose {notes}"},
        {"actor_key": CANARY_NAME},
        {"patient_key": CANARY_NUMBER},
        {"request_id": notes},
        {"scopes": [CANARY_NAME]},
    ]
    for change in refused:
        args: dict[str, Any] = {"endpoint": "/v1/diagnose", "method": "POST", "request_id": "r2"}
        with (
            pytest.raises(InputError, match="never note text or identifiers") as error,
            session_scope(storage_sessions) as session,
        ):
            record_audit(session, status_code=200, **(args | change))
        assert CANARY_NAME not in str(error.value) and CANARY_NUMBER not in str(error.value)
    with storage_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == 1


def test_feedback_validation(storage_sessions: Sessions, store: Store) -> None:
    _, prediction_id = store()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"prediction_id": "missing"}, "no prediction with that id"),
        ({"verdict": "maybe"}, "expected confirmed | rejected | other"),
        ({"clinician_key": "dr-who"}, "clinician_key: expected a 64-hex-digit pseudonym"),
        ({"condition": "Measles"}, "a condition the prediction did not list"),
        ({"verdict": "other"}, "the actual condition when the verdict is 'other'"),
        ({"verdict": "other", "corrected_condition": "x" * 201}, "at most 200 characters"),
    ]
    for change, message in cases:
        args: dict[str, Any] = {
            "prediction_id": prediction_id,
            "verdict": "rejected",
            "clinician_key": CLINICIAN,
        }
        with pytest.raises(InputError, match=message), session_scope(storage_sessions) as session:
            record_feedback(session, **(args | change))
    with session_scope(storage_sessions) as session:
        assert live_accuracy(session) == {}  # nothing of the refused feedback was kept


def test_live_accuracy_counts_verdicts_by_condition(
    storage_sessions: Sessions, store: Store
) -> None:
    predictions = [store()[1] for _ in range(3)]
    with session_scope(storage_sessions) as session:
        assert live_accuracy(session) == {}
        for pid, verdict in zip(predictions, ["confirmed", "confirmed", "rejected"], strict=True):
            record_feedback(session, prediction_id=pid, verdict=verdict, clinician_key=CLINICIAN)
        record_feedback(
            session,
            prediction_id=predictions[0],
            verdict="other",
            condition="Bronchitis",
            corrected_condition="Asthma",
            clinician_key=CLINICIAN,
        )
    with session_scope(storage_sessions) as session:
        counts = live_accuracy(session)
        assert live_accuracy(session, model_id="another-model") == {}
        assert live_accuracy(session, model_id="abc123def456") == counts
    assert counts == {
        "Bronchitis": FeedbackCounts(confirmed=0, rejected=1),
        "Pneumonia": FeedbackCounts(confirmed=2, rejected=1),
    }
    assert counts["Pneumonia"].accuracy == pytest.approx(2 / 3)
    assert FeedbackCounts().accuracy is None
