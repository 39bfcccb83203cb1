"""Initial schema: cases, predictions, feedback, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Types are spelled out here (not imported from ``models``) so this revision keeps
describing the schema it created even after the models move on. Names are wrapped in
``op.f`` because they are final: the models' naming convention must not prefix them again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STAMP = sa.DateTime(timezone=True)  # stored in UTC


def upgrade() -> None:
    """Create the four tables with their constraints and indexes."""
    op.create_table(
        "cases",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("patient_key", sa.String(64), nullable=True),
        sa.Column("case_json", sa.JSON(), nullable=False),
        sa.Column("created_at", _STAMP, nullable=False),
        sa.CheckConstraint(
            "patient_key IS NULL OR length(patient_key) = 64", name=op.f("ck_cases_patient_key")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
    )
    op.create_index(op.f("ix_cases_patient_key"), "cases", ["patient_key"])

    op.create_table(
        "predictions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("model_id", sa.String(64), nullable=False),
        sa.Column("model_kind", sa.String(32), nullable=False),
        sa.Column("model_trained_at", _STAMP, nullable=True),
        sa.Column("dxkit_version", sa.String(32), nullable=False),
        sa.Column("top_condition", sa.String(200), nullable=False),
        sa.Column("top_probability", sa.Float(), nullable=False),
        sa.Column("probabilities", sa.JSON(), nullable=False),
        sa.Column("prediction_set", sa.JSON(), nullable=False),
        sa.Column("abstained", sa.Boolean(), nullable=False),
        sa.Column("triage", sa.String(16), nullable=False),
        sa.Column("created_at", _STAMP, nullable=False),
        sa.CheckConstraint(
            "top_probability >= 0 AND top_probability <= 1", name=op.f("ck_predictions_probability")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_predictions_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predictions")),
    )
    op.create_index(op.f("ix_predictions_case_id"), "predictions", ["case_id"])
    op.create_index(op.f("ix_predictions_model_id"), "predictions", ["model_id"])
    op.create_index(op.f("ix_predictions_top_condition"), "predictions", ["top_condition"])

    op.create_table(
        "feedback",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("prediction_id", sa.String(36), nullable=False),
        sa.Column("condition", sa.String(200), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("corrected_condition", sa.String(200), nullable=True),
        sa.Column("clinician_key", sa.String(64), nullable=False),
        sa.Column("created_at", _STAMP, nullable=False),
        sa.CheckConstraint(
            "verdict IN ('confirmed', 'rejected', 'other')", name=op.f("ck_feedback_verdict")
        ),
        sa.CheckConstraint(
            "verdict != 'other' OR corrected_condition IS NOT NULL", name=op.f("ck_feedback_other")
        ),
        sa.CheckConstraint("length(clinician_key) = 64", name=op.f("ck_feedback_clinician_key")),
        sa.ForeignKeyConstraint(
            ["prediction_id"],
            ["predictions.id"],
            name=op.f("fk_feedback_prediction_id_predictions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
    )
    op.create_index(op.f("ix_feedback_condition"), "feedback", ["condition"])
    op.create_index(op.f("ix_feedback_prediction_id"), "feedback", ["prediction_id"])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", _STAMP, nullable=False),
        sa.Column("actor_key", sa.String(64), nullable=True),
        sa.Column("scopes", sa.String(263), nullable=False),
        sa.Column("endpoint", sa.String(200), nullable=False),
        sa.Column("method", sa.String(7), nullable=False),
        sa.Column("patient_key", sa.String(64), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.CheckConstraint(
            "actor_key IS NULL OR length(actor_key) = 64", name=op.f("ck_audit_log_actor_key")
        ),
        sa.CheckConstraint(
            "patient_key IS NULL OR length(patient_key) = 64", name=op.f("ck_audit_log_patient_key")
        ),
        sa.CheckConstraint("length(scopes) <= 263", name=op.f("ck_audit_log_scopes")),
        sa.CheckConstraint(
            "length(endpoint) BETWEEN 1 AND 200", name=op.f("ck_audit_log_endpoint")
        ),
        sa.CheckConstraint("length(method) BETWEEN 3 AND 7", name=op.f("ck_audit_log_method")),
        sa.CheckConstraint(
            "status_code BETWEEN 100 AND 599", name=op.f("ck_audit_log_status_code")
        ),
        sa.CheckConstraint(
            "length(request_id) BETWEEN 1 AND 64", name=op.f("ck_audit_log_request_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_index(op.f("ix_audit_log_patient_at"), "audit_log", ["patient_key", "at"])


def downgrade() -> None:
    """Drop everything (indexes go with their tables)."""
    for table in ("audit_log", "feedback", "predictions", "cases"):
        op.drop_table(table)
