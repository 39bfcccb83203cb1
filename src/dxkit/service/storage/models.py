"""The service's tables: de-identified cases, predictions, clinician feedback, audit log.

Why these shapes:

* A stored case never holds the raw patient identifier: ``patient_key`` is an HMAC of it
  under a server secret, so cases of one patient can be linked (for the clinician's
  context check) without the database revealing who the patient is.
* A prediction names its model exactly (``model_id`` digest and ``model_trained_at``), so
  live accuracy can be split by model version and an answer can be traced later.
* Audit rows hold pseudonyms, scopes, the route template, method, status and request id
  only. Lengths and formats are checked twice - by ``validates`` hooks before a flush and
  by CHECK constraints in the database - so free text cannot slip into the audit log.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from dxkit.cases.schema import Case

# Stable constraint names: migrations and both dialects agree on what to drop or alter.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
KEY_LENGTH = 64  # hex digits of an HMAC-SHA256 pseudonym
VERDICTS = ("confirmed", "rejected", "other")
LABEL_LENGTH = 200  # condition names and labels

_KEY = re.compile(r"[0-9a-f]{64}")
_SCOPES = re.compile(r"[a-z][a-z0-9_.:-]{0,31}( [a-z][a-z0-9_.:-]{0,31}){0,7}")
_ENDPOINT = re.compile(r"/[A-Za-z0-9_/{}.-]{0,199}")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
AUDITED_METHODS = frozenset(_METHODS)  # other methods reach no route: a 405, nothing audited


def new_id() -> str:
    """A random UUID: ids that reveal neither order nor the client's own case id."""
    return str(uuid.uuid4())


def utcnow() -> dt.datetime:
    """The current time, timezone-aware in UTC."""
    return dt.datetime.now(dt.UTC)


def is_pseudonym(value: str) -> bool:
    """Whether ``value`` looks like a pseudonym (64 lower-case hex digits), not a raw id."""
    return _KEY.fullmatch(value) is not None


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite keeps no time zone, so without this a value written aware would come back
    naive there and aware on PostgreSQL; callers would compare them and crash.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        stamp: dt.datetime = value
        return stamp.replace(tzinfo=dt.UTC) if stamp.tzinfo is None else stamp.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base with the shared naming convention."""

    metadata = MetaData(naming_convention=NAMING)


def _key_check(column: str, nullable: bool = True) -> CheckConstraint:
    rule = f"length({column}) = {KEY_LENGTH}"
    return CheckConstraint(f"{column} IS NULL OR {rule}" if nullable else rule, name=column)


class StoredCase(Base):
    """One de-identified case as the service received it, under a pseudonymous patient."""

    __tablename__ = "cases"
    __table_args__ = (_key_check("patient_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    patient_key: Mapped[str | None] = mapped_column(String(KEY_LENGTH), index=True)
    case_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    predictions: Mapped[list[Prediction]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="Prediction.created_at"
    )

    def case(self) -> Case:
        """The stored case as a :class:`Case` (its ``patient_id`` is always empty)."""
        return Case.model_validate(self.case_json)


class Prediction(Base):
    """One answer the service gave for a stored case, with the exact model behind it."""

    __tablename__ = "predictions"
    __table_args__ = (
        CheckConstraint("top_probability >= 0 AND top_probability <= 1", name="probability"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[str] = mapped_column(String(64), index=True)
    model_kind: Mapped[str] = mapped_column(String(32))
    model_trained_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    dxkit_version: Mapped[str] = mapped_column(String(32))
    top_condition: Mapped[str] = mapped_column(String(LABEL_LENGTH), index=True)
    top_probability: Mapped[float] = mapped_column(Float)
    probabilities: Mapped[dict[str, float]] = mapped_column(JSON)
    prediction_set: Mapped[list[str]] = mapped_column(JSON)
    abstained: Mapped[bool]
    triage: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    case: Mapped[StoredCase] = relationship(back_populates="predictions")
    feedback: Mapped[list[Feedback]] = relationship(
        back_populates="prediction", cascade="all, delete-orphan"
    )


class Feedback(Base):
    """A clinician's verdict on one condition of a prediction (for retraining and accuracy).

    ``condition`` is the condition judged (by default the prediction's top one);
    ``corrected_condition`` is what the clinician found instead, required for ``other``.
    """

    __tablename__ = "feedback"
    __table_args__ = (
        CheckConstraint(f"verdict IN {VERDICTS!r}", name="verdict"),
        CheckConstraint("verdict != 'other' OR corrected_condition IS NOT NULL", name="other"),
        _key_check("clinician_key", nullable=False),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    prediction_id: Mapped[str] = mapped_column(
        ForeignKey("predictions.id", ondelete="CASCADE"), index=True
    )
    condition: Mapped[str] = mapped_column(String(LABEL_LENGTH), index=True)
    verdict: Mapped[str] = mapped_column(String(16))
    corrected_condition: Mapped[str | None] = mapped_column(String(LABEL_LENGTH))
    clinician_key: Mapped[str] = mapped_column(String(KEY_LENGTH))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    prediction: Mapped[Prediction] = relationship(back_populates="feedback")


class AuditEntry(Base):
    """Who did what to which (pseudonymous) patient, when, and how it ended.

    Never note text or identifiers: every text column has a narrow format, checked on
    assignment (``ValueError``) and by the database (CHECK constraints on lengths).
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        _key_check("actor_key"),
        _key_check("patient_key"),
        CheckConstraint("length(scopes) <= 263", name="scopes"),
        CheckConstraint("length(endpoint) BETWEEN 1 AND 200", name="endpoint"),
        CheckConstraint("length(method) BETWEEN 3 AND 7", name="method"),
        CheckConstraint("status_code BETWEEN 100 AND 599", name="status_code"),
        CheckConstraint("length(request_id) BETWEEN 1 AND 64", name="request_id"),
        Index("ix_audit_log_patient_at", "patient_key", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    actor_key: Mapped[str | None] = mapped_column(String(KEY_LENGTH))
    scopes: Mapped[str] = mapped_column(String(263), default="")
    endpoint: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(7))
    patient_key: Mapped[str | None] = mapped_column(String(KEY_LENGTH))
    status_code: Mapped[int]
    request_id: Mapped[str] = mapped_column(String(64))

    @validates("actor_key", "patient_key")
    def _check_key(self, name: str, value: str | None) -> str | None:
        if value is not None and not is_pseudonym(value):
            raise ValueError(f"{name} must be a {KEY_LENGTH}-hex-digit pseudonym")
        return value

    @validates("scopes")
    def _check_scopes(self, name: str, value: str) -> str:
        if value and not _SCOPES.fullmatch(value):
            raise ValueError("scopes must be up to 8 short lower-case scope names")
        return value

    @validates("endpoint")
    def _check_endpoint(self, name: str, value: str) -> str:
        if not _ENDPOINT.fullmatch(value):
            raise ValueError("endpoint must be a route template such as /v1/cases/{id}")
        return value

    @validates("method")
    def _check_method(self, name: str, value: str) -> str:
        if value not in _METHODS:
            raise ValueError(f"method must be one of {', '.join(_METHODS)}")
        return value

    @validates("status_code")
    def _check_status(self, name: str, value: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
            raise ValueError("status_code must be an HTTP status between 100 and 599")
        return value

    @validates("request_id")
    def _check_request_id(self, name: str, value: str) -> str:
        if not _REQUEST_ID.fullmatch(value):
            raise ValueError("request_id must be 1-64 characters of [A-Za-z0-9._-]")
        return value
