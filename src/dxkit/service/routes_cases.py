"""Stored cases and clinician feedback: ``GET /v1/cases/{id}`` and ``POST /v1/feedback``.

Why feedback lives beside the stored cases: a verdict is only useful tied to the exact
answer (and model version) it judges, so clients send the ``prediction_id`` the diagnose
answer returned, and the verdict is kept for retraining and for live accuracy, which
``/metrics`` reports per condition (see :class:`FeedbackCollector`).

What is read back is what was stored: the de-identified case (no patient id, ages over
89 as "90+") and every answer given for it. Both routes need the clinician scope and
the case's patient in the token's context (admins may act on every case; a case stored
without a patient is admin-only, as it cannot be shown to be in anyone's context).
Feedback is attributed to the caller's pseudonym.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Body, HTTPException, Path, Request
from prometheus_client.core import GaugeMetricFamily, Metric
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session, sessionmaker

from dxkit.errors import InputError
from dxkit.service.audit import record_with_data, set_patient
from dxkit.service.auth import Principal, check_patient_access
from dxkit.service.deps import AUTH_RESPONSES, CLINICIAN_ONLY, ClinicianDep, SessionsDep, StateDep
from dxkit.service.errors import ErrorResponse
from dxkit.service.storage import (
    Prediction,
    StoredCase,
    get_case,
    live_accuracy,
    record_feedback,
    session_scope,
)
from dxkit.service.storage.models import LABEL_LENGTH

if TYPE_CHECKING:
    from dxkit.service.deps import ServiceState

router = APIRouter(
    prefix="/v1",
    tags=["cases and feedback"],
    dependencies=CLINICIAN_ONLY,
    responses=AUTH_RESPONSES,
)

_ID = r"^[0-9a-f-]{36}$"  # the service's ids are UUIDs
# An ICD-10 code (WHO or CM): a corrected diagnosis outside the model's labels.
_ICD10 = re.compile(r"[A-TV-Z][0-9][0-9AB](\.[0-9A-TV-Z]{1,4})?")

_NOT_FOUND = {"model": ErrorResponse, "description": "no stored case or prediction with that id"}
_INVALID = {"model": ErrorResponse, "description": "malformed id or body"}
_UNAVAILABLE = {"model": ErrorResponse, "description": "storage not open yet"}


class StoredPrediction(BaseModel):
    """One answer the service gave for a stored case, with the model behind it."""

    id: str
    created_at: str
    model_id: str
    model_kind: str
    dxkit_version: str
    top_condition: str
    top_probability: float
    probabilities: dict[str, float]
    prediction_set: list[str]
    abstained: bool
    triage: str


class StoredCaseOut(BaseModel):
    """A stored, de-identified case and its answers, oldest first."""

    id: str
    created_at: str
    case: dict[str, Any] = Field(description="the de-identified case; patient_id is never kept")
    predictions: list[StoredPrediction]


class FeedbackIn(BaseModel):
    """A clinician's verdict on a prediction."""

    model_config = ConfigDict(extra="forbid")
    prediction_id: str = Field(pattern=_ID, description="from the diagnose answer's `stored`")
    verdict: Literal["confirmed", "rejected", "other"]
    condition: str | None = Field(
        None, min_length=1, max_length=LABEL_LENGTH, description="judged; default: the top one"
    )
    corrected_condition: str | None = Field(
        None, min_length=1, max_length=LABEL_LENGTH, description="the actual one (for other)"
    )


class FeedbackOut(BaseModel):
    """The stored feedback's id."""

    feedback_id: str


def _render(stored: StoredCase) -> StoredCaseOut:
    return StoredCaseOut(
        id=stored.id,
        created_at=stored.created_at.isoformat(),
        case=stored.case_json,
        predictions=[_render_prediction(p) for p in stored.predictions],
    )


def _render_prediction(p: Prediction) -> StoredPrediction:
    return StoredPrediction(
        id=p.id,
        created_at=p.created_at.isoformat(),
        model_id=p.model_id,
        model_kind=p.model_kind,
        dxkit_version=p.dxkit_version,
        top_condition=p.top_condition,
        top_probability=p.top_probability,
        probabilities=p.probabilities,
        prediction_set=p.prediction_set,
        abstained=p.abstained,
        triage=p.triage,
    )


def _read_case(sessions: sessionmaker[Session], case_id: str) -> tuple[StoredCaseOut, str] | None:
    with session_scope(sessions) as session:
        stored = get_case(session, case_id)
        return None if stored is None else (_render(stored), stored.patient_key or "")


@router.get(
    "/cases/{case_id}",
    summary="A stored case and its answers",
    response_model=StoredCaseOut,
    responses={404: _NOT_FOUND, 422: _INVALID, 503: _UNAVAILABLE},
)
async def read_case(
    request: Request,
    sessions: SessionsDep,
    principal: ClinicianDep,
    case_id: Annotated[str, Path(pattern=_ID, description="`stored.case_id` of an answer")],
) -> StoredCaseOut:
    """The de-identified case as stored, with every prediction made for it."""
    found = await anyio.to_thread.run_sync(_read_case, sessions, case_id)
    if found is None:
        raise HTTPException(404, detail="case not found")
    out, patient_key = found
    set_patient(request, patient_key or None)
    check_patient_access(principal, patient_key=patient_key or None)
    return out


def corrected_label(value: str | None, known: Iterable[str]) -> str | None:
    """``value`` as a known condition name or an ICD-10 code, or an error.

    Why not free text: it is stored for retraining, and a free-text field is where a
    note, a name or a phone number would end up in the database. A label the model
    knows (any case) or a code is all retraining can use anyway.
    """
    if value is None:
        return None
    by_folded = {name.casefold(): name for name in known}
    label = by_folded.get(value.strip().casefold())
    if label is not None:
        return label
    code = value.strip().upper()
    if _ICD10.fullmatch(code):
        return code
    raise InputError(
        "feedback corrected_condition",
        expected="a condition name the model knows, or an ICD-10 code such as J45.9",
        found="neither",
        fix="send the condition's name as the answers write it, or its ICD-10 code",
    )


def _store_feedback(
    sessions: sessionmaker[Session],
    body: FeedbackIn,
    principal: Principal,
    labels: list[str],
    request: Request,
) -> str | None:
    """The new feedback's id, stored with its audit entry; ``None``: no such prediction.

    Raises:
        AuthError: 403 when the prediction's patient is not in the caller's context
            (checked before anything is written).
    """
    with session_scope(sessions) as session:
        prediction = session.get(Prediction, body.prediction_id)
        if prediction is None:
            return None
        set_patient(request, prediction.case.patient_key)
        check_patient_access(principal, patient_key=prediction.case.patient_key)
        known = [*prediction.probabilities, *labels]
        feedback_id = record_feedback(
            session,
            prediction_id=body.prediction_id,
            verdict=body.verdict,
            clinician_key=principal.actor_key,
            condition=body.condition,
            corrected_condition=corrected_label(body.corrected_condition, known),
        )
        record_with_data(session, request, 201)
        return feedback_id


@router.post(
    "/feedback",
    summary="A clinician confirms or rejects a diagnosis",
    status_code=201,
    response_model=FeedbackOut,
    responses={404: _NOT_FOUND, 422: _INVALID, 503: _UNAVAILABLE},
)
async def give_feedback(
    request: Request,
    sessions: SessionsDep,
    state: StateDep,
    principal: ClinicianDep,
    body: Annotated[FeedbackIn, Body()],
) -> FeedbackOut:
    """Store a verdict on one condition of a prediction, for retraining and live accuracy.

    ``condition`` defaults to the prediction's top condition and must be one it listed;
    ``other`` needs ``corrected_condition``: a condition name the model knows or an
    ICD-10 code (never free text, which could carry identifiers).
    """
    labels = [str(label) for label in state.model.labels] if state.model is not None else []
    feedback_id = await anyio.to_thread.run_sync(
        _store_feedback, sessions, body, principal, labels, request
    )
    if feedback_id is None:
        raise HTTPException(404, detail="prediction not found")
    return FeedbackOut(feedback_id=feedback_id)


class FeedbackCollector:
    """Live accuracy for ``/metrics``: clinicians' verdicts counted from the database.

    Read at scrape time (one grouped query over an indexed column), so the figures are
    those of every worker and survive restarts. Nothing is reported while storage is
    not open, or when the query fails (the scrape must not fail with it).
    """

    def __init__(self, state: ServiceState) -> None:
        self.state = state

    def describe(self) -> Iterator[Metric]:
        """The families, without a query (called when the collector is registered)."""
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        """Verdict counts and accuracy by judged condition."""
        verdicts, accuracy = self._families()
        sessions = self.state.sessions
        if sessions is not None:
            try:
                with session_scope(sessions) as session:
                    counts = live_accuracy(session)
            except Exception:  # a scrape during a database outage reports no figures
                counts = {}
            for condition, count in counts.items():
                verdicts.add_metric([condition, "confirmed"], count.confirmed)
                verdicts.add_metric([condition, "rejected"], count.rejected)
                if count.accuracy is not None:
                    accuracy.add_metric([condition], count.accuracy)
        yield verdicts
        yield accuracy

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "dxkit_feedback_verdicts",
                "Clinician verdicts by judged condition (other counts as rejected).",
                labels=["condition", "verdict"],
            ),
            GaugeMetricFamily(
                "dxkit_live_accuracy",
                "Share of judged predictions confirmed by clinicians, by condition.",
                labels=["condition"],
            ),
        )
