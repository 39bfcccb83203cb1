"""``POST /v1/diagnose``: one case in, its differential out.

One case per request, the body being the :class:`~dxkit.cases.schema.Case` itself, so the
request schema is the same JSON a case file holds and the answer is the same
:class:`~dxkit.report.differential.Differential` that ``dxkit diagnose --json`` prints.
The case is de-identified (identifiers replaced by tags) before the model or anything
else sees it, and the CPU-bound work runs in a bounded thread pool so the event loop
keeps answering health checks while a diagnosis runs.

The de-identified case and its answer are stored together in one transaction, after the
diagnosis and outside its time limit (a timed-out diagnosis stores nothing, and a
failure anywhere leaves no rows). The answer keeps its shape and gains one field,
``stored`` (``case_id``, ``prediction_id``): the server-side ids for
``GET /v1/cases/{case_id}`` and ``POST /v1/feedback``; ``Location`` names the case too.

Callers need the clinician scope. A case that names a patient (``patient_id``) is
diagnosed only for a clinician with that patient in the token's context (403 before any
work or storage otherwise); a case naming no patient is allowed, since trying out a
scenario concerns nobody, but only admins can read such a case back.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

import anyio
import anyio.to_thread
import numpy as np
from fastapi import APIRouter, Body, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session, sessionmaker

from dxkit.cases.schema import Case
from dxkit.inference.microbatch import BatcherFullError
from dxkit.report.differential import Differential
from dxkit.service.audit import record_with_data, set_patient
from dxkit.service.auth import check_patient_access
from dxkit.service.deps import (
    AUTH_RESPONSES,
    CLINICIAN_ONLY,
    ClinicianDep,
    ReadyDep,
    SettingsDep,
)
from dxkit.service.errors import ErrorResponse
from dxkit.service.storage import StoredIds, session_scope, store_case_and_prediction

if TYPE_CHECKING:
    from dxkit.deid.engine import Detector
    from dxkit.models.base import DiagnosisModel

router = APIRouter(
    prefix="/v1", tags=["diagnosis"], dependencies=CLINICIAN_ONLY, responses=AUTH_RESPONSES
)

EXAMPLE_CASE: dict[str, Any] = {
    "case_id": "example-1",
    "patient_id": "patient-1",
    "age": 67,
    "sex": "male",
    "lifestyle": {"smoking": "current"},
    "history": {"past_conditions": ["hypertension"], "medications": ["amlodipine"]},
    "notes": "Crushing central chest pain for 40 minutes radiating to the left arm, sweaty.",
    "observations": [
        {"code": "8867-4", "value": 104, "unit": "/min"},
        {"code": "8480-6", "value": 152, "unit": "mm[Hg]"},
        {"code": "59408-5", "value": 96, "unit": "%"},
    ],
}

_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorResponse, "description": "body over the size limit"},
    422: {"model": ErrorResponse, "description": "malformed JSON, unknown or invalid fields"},
    503: {"model": ErrorResponse, "description": "model still loading, or diagnosis timed out"},
}


class StoredRefs(BaseModel):
    """Where the service stored a diagnosis: ids to read it back and give feedback on."""

    case_id: str = Field(description="server id of the stored case: GET /v1/cases/{case_id}")
    prediction_id: str = Field(description="id of this answer, for POST /v1/feedback")


class StoredDifferential(Differential):
    """The differential, plus the ids under which the case and the answer were stored."""

    stored: StoredRefs


def deidentify_and_diagnose_case(
    model: DiagnosisModel,
    detector: Detector,
    case: Case,
    *,
    top: int,
    evidence: int = 0,
    alpha: float | None = None,
    strict: bool = True,
    predict: Callable[[Sequence[Case]], np.ndarray] | None = None,
) -> tuple[Case, Differential]:
    """The de-identified case and its differential, both under a server-made case id.

    A client's ``deidentified: true`` is not trusted: the text is always de-identified,
    since it will be stored. With ``strict`` a LOINC code the catalogue does not know is
    an error (422), not a value silently ignored.
    """
    from dxkit.deid.cases import deidentify_cases
    from dxkit.report.diagnose import diagnose

    # The client's case_id may hold an identifier: the case is stored, and validation
    # errors are worded, under a server-made id instead.
    server_id = f"case-{uuid.uuid4().hex}"
    clean, _ = deidentify_cases(
        [case.model_copy(update={"deidentified": False, "case_id": server_id})],
        detector=detector,
    )
    answer = diagnose(
        model, clean, top=top, strict=strict, evidence=evidence, alpha=alpha, predict=predict
    )[0]
    return clean[0], answer


def store_answer(
    sessions: sessionmaker[Session],
    case: Case,
    answer: Differential,
    secret: bytes,
    request: Request,
) -> StoredIds:
    """Store the de-identified case, its answer and the audit entry in one transaction."""
    with session_scope(sessions) as session:
        ids = store_case_and_prediction(session, case, answer, None, secret)
        record_with_data(session, request, 200)
        return ids


@router.post(
    "/diagnose",
    summary="Differential diagnosis of one case",
    response_model=StoredDifferential,
    responses=_ERRORS,
)
async def diagnose_case(
    request: Request,
    response: Response,
    case: Annotated[
        Case,
        Body(
            description="One patient at one time; unknown fields are rejected.",
            openapi_examples={"chest pain": {"summary": "adult chest pain", "value": EXAMPLE_CASE}},
        ),
    ],
    principal: ClinicianDep,
    ready: ReadyDep,
    settings: SettingsDep,
    top: Annotated[
        int | None, Query(ge=1, le=50, description="conditions to return (default: service's)")
    ] = None,
    evidence: Annotated[
        int | None,
        Query(ge=0, le=10, description="top conditions to explain (each costs model calls)"),
    ] = None,
    confidence: Annotated[
        float | None,
        Query(
            gt=0.5,
            lt=1.0,
            description="coverage of the prediction set, e.g. 0.95 (default: the model's)",
        ),
    ] = None,
) -> StoredDifferential:
    """Ranked conditions with probabilities, conformal set, triage, warnings and model id.

    The de-identified case and this answer are stored; ``stored`` holds their ids.
    """
    state = ready.state
    if case.patient_id:
        set_patient(request, state.pseudonym(case.patient_id))
        check_patient_access(principal, case.patient_id)
    work = partial(
        deidentify_and_diagnose_case,
        ready.model,
        ready.detector,
        case,
        top=settings.top if top is None else top,
        evidence=settings.evidence if evidence is None else evidence,
        alpha=None if confidence is None else round(1.0 - confidence, 6),
        predict=state.predict,
    )
    try:
        with anyio.fail_after(settings.request_timeout_s):
            clean, answer = await anyio.to_thread.run_sync(
                work, abandon_on_cancel=True, limiter=state.limiter
            )
    except TimeoutError:
        raise HTTPException(
            503, detail="diagnosis timed out", headers={"Retry-After": "1"}
        ) from None
    except BatcherFullError:
        raise HTTPException(503, detail="at capacity", headers={"Retry-After": "1"}) from None
    ids = await anyio.to_thread.run_sync(
        store_answer, ready.sessions, clean, answer, state.patient_secret, request
    )
    state.metrics.observe_answers([answer])
    response.headers["Location"] = f"/v1/cases/{ids.case_id}"
    stored = StoredRefs(case_id=ids.case_id, prediction_id=ids.prediction_id)
    # the client gets its own case_id back; only the server's id was stored
    return StoredDifferential(**dict(answer) | {"case_id": case.case_id}, stored=stored)
