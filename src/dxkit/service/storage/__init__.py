"""Storage of the dxkit service: de-identified cases, predictions, feedback, audit log.

SQLAlchemy 2 models over SQLite (default) or PostgreSQL, Alembic migrations run by
:func:`migrate` at startup, and repository functions the routes call inside one
:func:`session_scope` per request. Importing this package connects to nothing.
"""

from __future__ import annotations

from dxkit.service.storage.database import (
    DEFAULT_URL,
    make_engine,
    make_session_factory,
    migrate,
    parse_url,
    session_scope,
)
from dxkit.service.storage.models import AuditEntry, Base, Feedback, Prediction, StoredCase
from dxkit.service.storage.repository import (
    FeedbackCounts,
    StoredIds,
    get_case,
    live_accuracy,
    pseudonym,
    record_audit,
    record_feedback,
    store_case_and_prediction,
)

__all__ = [
    "DEFAULT_URL",
    "AuditEntry",
    "Base",
    "Feedback",
    "FeedbackCounts",
    "Prediction",
    "StoredCase",
    "StoredIds",
    "get_case",
    "live_accuracy",
    "make_engine",
    "make_session_factory",
    "migrate",
    "parse_url",
    "pseudonym",
    "record_audit",
    "record_feedback",
    "session_scope",
    "store_case_and_prediction",
]
