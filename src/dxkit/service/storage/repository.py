"""What the service's routes do with the database, as plain functions over a session.

Routes stay thin: they open a :func:`~dxkit.service.storage.database.session_scope`,
call one of these functions and render the result. Every function only adds to the
session; committing (or rolling back) is the scope's job, so one request is one
transaction.

Identifiers never reach a table: the patient id is replaced by :func:`pseudonym` (an
HMAC under the server secret) and removed from the stored case JSON; clinicians appear
only as pseudonyms too. The case is stored as given otherwise - the service
de-identifies its text before calling :func:`store_case_and_prediction`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from dxkit.cases.schema import Case
from dxkit.errors import InputError
from dxkit.report.differential import Differential, ModelInfo
from dxkit.service.storage.models import (
    LABEL_LENGTH,
    VERDICTS,
    AuditEntry,
    Feedback,
    Prediction,
    StoredCase,
    is_pseudonym,
)

MIN_SECRET_BYTES = 16


@dataclass(frozen=True)
class StoredIds:
    """The server-side ids of what one diagnosis stored."""

    case_id: str
    prediction_id: str


@dataclass(frozen=True)
class FeedbackCounts:
    """How often clinicians confirmed or rejected one condition (``other`` = rejected)."""

    confirmed: int = 0
    rejected: int = 0

    @property
    def accuracy(self) -> float | None:
        """Share confirmed among judged predictions; ``None`` before any feedback."""
        total = self.confirmed + self.rejected
        return self.confirmed / total if total else None


def pseudonym(value: str, secret: bytes | str) -> str:
    """HMAC-SHA256 of ``value`` under the server secret, as 64 hex digits.

    The same value and secret always give the same key (so a patient's cases link up),
    but without the secret the key cannot be turned back into the identifier, nor
    checked against a guessed one.

    >>> secret = "a-secret-of-16-bytes"
    >>> pseudonym("patient-1", secret) == pseudonym("patient-1", secret) != pseudonym("2", secret)
    True
    """
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    if len(key) < MIN_SECRET_BYTES:
        raise InputError(
            "pseudonym secret",
            expected=f"a server secret of at least {MIN_SECRET_BYTES} bytes",
            found=f"{len(key)} bytes",
            fix="configure a long random secret (e.g. `python -c 'import secrets; "
            "print(secrets.token_hex(32))'`)",
        )
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def store_case_and_prediction(
    session: Session,
    case: Case,
    answer: Differential,
    model_info: ModelInfo | None,
    patient_secret: bytes | str,
) -> StoredIds:
    """Add a case (patient id replaced by its pseudonym) and the answer given for it.

    Args:
        session: the request's session; nothing is committed here.
        case: the de-identified case, stored as given except that ``patient_id`` is
            dropped and ages over 89 are stored as ``"90+"`` (HIPAA Safe Harbor).
        answer: the differential returned for it.
        model_info: the model that answered; ``None`` takes ``answer.model``.
        patient_secret: the server secret for :func:`pseudonym`.

    Returns:
        The new case's and prediction's ids.
    """
    if answer.case_id != case.case_id:
        raise InputError(
            "stored answer",
            expected="an answer for the case being stored",
            found="an answer whose case_id differs from the case's",
            fix="store each case together with its own answer",
        )
    if not answer.conditions:
        raise InputError(
            "stored answer",
            expected="a differential with at least one condition",
            found="an empty differential",
            fix="store only answers the model produced",
        )
    info = model_info or answer.model
    patient_key = pseudonym(case.patient_id, patient_secret) if case.patient_id else None
    stored = StoredCase(
        patient_key=patient_key,
        case_json=case.to_public_dict() | {"patient_id": None},  # ages over 89 as "90+"
    )
    top = answer.top
    prediction = Prediction(
        case=stored,
        model_id=info.model_id,
        model_kind=info.kind,
        model_trained_at=_parse_time(info.trained_at),
        dxkit_version=info.dxkit_version,
        top_condition=top.name,
        top_probability=top.probability,
        probabilities={item.name: item.probability for item in answer.conditions},
        prediction_set=list(answer.prediction_set),
        abstained=answer.abstain,
        triage=str(answer.triage.level),
    )
    session.add_all([stored, prediction])
    session.flush()  # assigns the ids and surfaces constraint errors inside the request
    return StoredIds(case_id=stored.id, prediction_id=prediction.id)


def get_case(session: Session, case_id: str) -> StoredCase | None:
    """The stored case with its predictions loaded, or ``None`` when there is none."""
    query = (
        select(StoredCase)
        .where(StoredCase.id == case_id)
        .options(selectinload(StoredCase.predictions))
    )
    return session.scalars(query).one_or_none()


def record_feedback(
    session: Session,
    *,
    prediction_id: str,
    verdict: str,
    clinician_key: str,
    condition: str | None = None,
    corrected_condition: str | None = None,
) -> str:
    """Add a clinician's verdict on a prediction; returns the feedback's id.

    Args:
        session: the request's session.
        prediction_id: the prediction judged (from the diagnose response).
        verdict: ``confirmed``, ``rejected`` or ``other`` (it was something else).
        clinician_key: the clinician's pseudonym (see :func:`pseudonym`).
        condition: the condition judged; defaults to the prediction's top condition and
            must be one of its conditions.
        corrected_condition: what it was instead; required for ``other``.
    """
    if verdict not in VERDICTS:
        raise InputError(
            "feedback verdict",
            expected=" | ".join(VERDICTS),
            found=repr(verdict[:20]),
            fix="send one of the expected verdicts",
        )
    _check_key("clinician_key", clinician_key)
    prediction = session.get(Prediction, prediction_id)
    if prediction is None:
        raise InputError(
            "feedback prediction_id",
            expected="the id of a stored prediction",
            found="no prediction with that id",
            fix="use the prediction_id returned by the diagnose endpoint",
        )
    judged = condition if condition is not None else prediction.top_condition
    if judged not in prediction.probabilities:
        raise InputError(
            "feedback condition",
            expected="a condition of the judged prediction",
            found="a condition the prediction did not list",
            fix="name one of the prediction's conditions, or use verdict 'other' "
            "with corrected_condition",
        )
    corrected = _check_label(corrected_condition)
    if verdict == "other" and corrected is None:
        raise InputError(
            "feedback corrected_condition",
            expected="the actual condition when the verdict is 'other'",
            found="none",
            fix="send corrected_condition with the diagnosis that was made",
        )
    feedback = Feedback(
        prediction=prediction,
        condition=judged,
        verdict=verdict,
        corrected_condition=corrected,
        clinician_key=clinician_key,
    )
    session.add(feedback)
    session.flush()
    return feedback.id


def record_audit(
    session: Session,
    *,
    endpoint: str,
    method: str,
    status_code: int,
    request_id: str,
    actor_key: str | None = None,
    patient_key: str | None = None,
    scopes: Iterable[str] = (),
) -> int:
    """Add one audit entry; returns its id.

    Write it in its own :func:`session_scope` after the request has finished, so the
    entry survives when the request's own transaction was rolled back.

    Args:
        endpoint: the route template (``/v1/cases/{id}``), not the raw path.
        method: the HTTP method.
        status_code: the response's status.
        request_id: the request's correlation id.
        actor_key: the caller's pseudonym, if authenticated.
        patient_key: the pseudonym of the patient concerned, if any.
        scopes: the scopes the caller's token granted.
    """
    try:
        entry = AuditEntry(
            endpoint=endpoint,
            method=method,
            status_code=status_code,
            request_id=request_id,
            actor_key=actor_key,
            patient_key=patient_key,
            scopes=" ".join(sorted(set(scopes))),
        )
    except ValueError as exc:  # the message names the rule, never the value
        raise InputError(
            "audit entry",
            expected="pseudonyms, scope names, a route template, method, status, request id",
            found=str(exc),
            fix="pass only the structured request facts; never note text or identifiers",
        ) from None
    session.add(entry)
    session.flush()
    return entry.id


def live_accuracy(session: Session, model_id: str | None = None) -> dict[str, FeedbackCounts]:
    """Confirmed and rejected counts by judged condition, optionally for one model."""
    query = select(Feedback.condition, Feedback.verdict, func.count()).group_by(
        Feedback.condition, Feedback.verdict
    )
    if model_id is not None:
        query = query.join(Prediction).where(Prediction.model_id == model_id)
    counts: dict[str, FeedbackCounts] = {}
    for condition, verdict, n in session.execute(query):
        old = counts.get(condition, FeedbackCounts())
        if verdict == "confirmed":
            counts[condition] = FeedbackCounts(old.confirmed + n, old.rejected)
        else:
            counts[condition] = FeedbackCounts(old.confirmed, old.rejected + n)
    return dict(sorted(counts.items()))


# --- Queries of the web page (history and dashboard) -----------------------------------
# ``patient_keys`` is the caller's patient context as pseudonyms; ``None`` means every
# case (admins). Cases stored without a patient belong to nobody's context.


@dataclass(frozen=True)
class CaseSummary:
    """One stored case as the history lists it: no text, its latest answer only."""

    case: StoredCase
    latest: Prediction | None
    feedback: int  # verdicts given on any of its answers


@dataclass(frozen=True)
class DashboardStats:
    """Live accuracy, abstention and predictions over time, for the cases one may see.

    Attributes:
        accuracy: feedback counts by judged condition.
        predictions: answers given in the window.
        abstained: of which the model referred to a clinician.
        per_day: ``{day (YYYY-MM-DD, UTC): {top condition: answers}}``, oldest first.
    """

    accuracy: dict[str, FeedbackCounts]
    predictions: int
    abstained: int
    per_day: dict[str, dict[str, int]]


def _visible(query: Any, patient_keys: Collection[str] | None) -> Any:
    if patient_keys is None:
        return query
    return query.where(StoredCase.patient_key.in_(sorted(patient_keys)))


def recent_cases(
    session: Session, patient_keys: Collection[str] | None, *, limit: int = 20, offset: int = 0
) -> tuple[list[CaseSummary], int]:
    """The newest cases among those visible, and how many are visible in all."""
    total = session.scalar(_visible(select(func.count(StoredCase.id)), patient_keys)) or 0
    query = (
        _visible(select(StoredCase), patient_keys)
        .order_by(StoredCase.created_at.desc(), StoredCase.id)
        .limit(limit)
        .offset(offset)
        .options(selectinload(StoredCase.predictions).selectinload(Prediction.feedback))
    )
    summaries = [
        CaseSummary(
            case=case,
            latest=case.predictions[-1] if case.predictions else None,
            feedback=sum(len(p.feedback) for p in case.predictions),
        )
        for case in session.scalars(query)
    ]
    return summaries, int(total)


def dashboard_stats(
    session: Session, patient_keys: Collection[str] | None, *, days: int = 30
) -> DashboardStats:
    """Feedback counts, abstention and daily predictions by top condition over ``days``.

    Accuracy counts every verdict on a visible case (it is the model's track record);
    the rest covers answers given in the last ``days`` days.
    """
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    verdicts = _visible(
        select(Feedback.condition, Feedback.verdict, func.count())
        .join(Prediction, Feedback.prediction_id == Prediction.id)
        .join(StoredCase, Prediction.case_id == StoredCase.id),
        patient_keys,
    ).group_by(Feedback.condition, Feedback.verdict)
    counts: dict[str, FeedbackCounts] = {}
    for condition, verdict, n in session.execute(verdicts):
        old = counts.get(condition, FeedbackCounts())
        confirmed = verdict == "confirmed"
        counts[condition] = FeedbackCounts(
            old.confirmed + (n if confirmed else 0), old.rejected + (0 if confirmed else n)
        )
    answers = _visible(
        select(Prediction.created_at, Prediction.top_condition, Prediction.abstained)
        .join(StoredCase, Prediction.case_id == StoredCase.id)
        .where(Prediction.created_at >= since),
        patient_keys,
    )
    per_day: dict[str, dict[str, int]] = {}
    total = abstained = 0
    for created_at, condition, refused in session.execute(answers):
        day = created_at.astimezone(dt.UTC).date().isoformat()
        bucket = per_day.setdefault(day, {})
        bucket[condition] = bucket.get(condition, 0) + 1
        total, abstained = total + 1, abstained + int(bool(refused))
    return DashboardStats(
        accuracy=dict(sorted(counts.items())),
        predictions=total,
        abstained=abstained,
        per_day=dict(sorted(per_day.items())),
    )


def _check_key(name: str, value: str) -> None:
    if not is_pseudonym(value):
        raise InputError(
            name,
            expected="a 64-hex-digit pseudonym",
            found=f"a value of {len(value)} characters",
            fix="pass pseudonym(subject, secret), never the raw identifier",
        )


def _check_label(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > LABEL_LENGTH or "\n" in value:
        raise InputError(
            "feedback corrected_condition",
            expected=f"a condition name of at most {LABEL_LENGTH} characters on one line",
            found=f"{len(value)} characters",
            fix="send the condition's name or code, not a note",
        )
    return value


def _parse_time(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            "model trained_at",
            expected="an ISO 8601 timestamp",
            found="an unparseable value",
            fix="retrain the model so its manifest records trained_at",
        ) from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
