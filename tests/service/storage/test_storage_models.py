"""The storage models: timestamps, validators and database-side checks."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from dxkit.errors import InputError
from dxkit.service.storage import AuditEntry, StoredCase, make_engine, parse_url, session_scope
from dxkit.service.storage.models import Base, is_pseudonym

KEY = "a" * 64


def test_timestamps_come_back_aware_in_utc(storage_sessions: sessionmaker[Session]) -> None:
    when = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    with session_scope(storage_sessions) as session:
        session.add(StoredCase(id="x", case_json={}, created_at=when))
    with session_scope(storage_sessions) as session:
        stored = session.get(StoredCase, "x")
        assert stored is not None
        assert stored.created_at == when
        assert stored.created_at.utcoffset() == dt.timedelta(0)


def test_naive_timestamps_are_refused(storage_sessions: sessionmaker[Session]) -> None:
    with (
        pytest.raises(StatementError, match="timezone-aware"),
        session_scope(storage_sessions) as session,
    ):
        session.add(StoredCase(id="x", case_json={}, created_at=dt.datetime(2026, 1, 1)))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("actor_key", "Dr. Alice Smith", "actor_key must be a 64-hex-digit pseudonym"),
        ("patient_key", "MRN 12345", "patient_key must be a 64-hex-digit pseudonym"),
        ("endpoint", "/v1/diagnose patient has fever", "endpoint must be a route template"),
        ("method", "get", "method must be one of"),
        ("status_code", 42, "status_code must be an HTTP status"),
        ("request_id", "has spaces in it", "request_id must be 1-64 characters"),
        ("scopes", "Clinician Admin", "scopes must be up to 8 short lower-case"),
    ],
)
def test_audit_validators_refuse_free_text(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AuditEntry(**{field: value})


def test_database_checks_hold_without_the_orm(storage_engine: Engine) -> None:
    # Raw SQL bypasses the validators; the CHECK constraints still refuse long text.
    insert = text(
        "INSERT INTO audit_log (at, scopes, endpoint, method, status_code, request_id, "
        "patient_key) VALUES ('2026-01-01', '', '/v1/x', 'GET', 200, 'r1', :key)"
    )
    with (
        pytest.raises(IntegrityError, match="ck_audit_log_patient_key"),
        storage_engine.begin() as conn,
    ):
        conn.execute(insert, {"key": "a patient name that is not a pseudonym"})
    with storage_engine.begin() as conn:
        conn.execute(insert, {"key": KEY})
        assert conn.execute(select(AuditEntry.patient_key)).scalar_one() == KEY


def test_feedback_verdict_is_checked_by_the_database(storage_engine: Engine) -> None:
    with storage_engine.begin() as conn:
        conn.execute(text("INSERT INTO cases VALUES ('c', NULL, '{}', '2026-01-01')"))
        conn.execute(
            text(
                "INSERT INTO predictions VALUES ('p', 'c', 'm', 'tfidf', NULL, '0.1', 'A', 0.5,"
                " '{}', '[]', 0, 'routine', '2026-01-01')"
            )
        )
    bad = text("INSERT INTO feedback VALUES ('f', 'p', 'A', 'maybe', NULL, :key, '2026-01-01')")
    with pytest.raises(IntegrityError, match="ck_feedback_verdict"), storage_engine.begin() as conn:
        conn.execute(bad, {"key": KEY})


def test_sqlite_runs_with_wal_and_foreign_keys(storage_engine: Engine) -> None:
    with storage_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        with pytest.raises(IntegrityError, match="FOREIGN KEY"):
            conn.execute(
                text(
                    "INSERT INTO predictions VALUES ('p', 'missing', 'm', 'k', NULL, 'v', 'A',"
                    " 0.5, '{}', '[]', 0, 'routine', '2026-01-01')"
                )
            )


def test_urls_pick_psycopg_and_refuse_other_dialects() -> None:
    assert parse_url("postgresql://u:pw@db/dxkit").drivername == "postgresql+psycopg"
    assert parse_url("postgres://u@db/dxkit").drivername == "postgresql+psycopg"
    assert parse_url("sqlite:///x.db").drivername == "sqlite"
    with pytest.raises(InputError, match="expected a sqlite or postgresql URL; found the 'mysql'"):
        parse_url("mysql://u@db/dxkit")
    with pytest.raises(InputError, match="found a string that is not a URL"):
        make_engine("not a url")


def test_pseudonym_shape_and_metadata_tables() -> None:
    assert is_pseudonym(KEY) and not is_pseudonym("A" * 64) and not is_pseudonym("a" * 63)
    assert set(Base.metadata.tables) == {"cases", "predictions", "feedback", "audit_log"}
