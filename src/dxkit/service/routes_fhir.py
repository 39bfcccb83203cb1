"""``POST /v1/diagnose/fhir``: a FHIR R4 Bundle in, a Bundle with the differential out.

The request is read by hand rather than declared as a pydantic body because every error
of a FHIR endpoint must be a FHIR ``OperationOutcome`` (not the service's JSON error
shape) and because EHRs send ``application/fhir+json``. The Bundle is parsed with the
same ``fhir.resources.R4B`` classes and the same per-resource helpers as
:mod:`dxkit.cases.fhir`, so a Bundle the CLI reads is read here the same way. Notes may
also arrive as ``DocumentReference`` resources with inline plain-text attachments, the
way EHRs export clinical notes. The case is de-identified before the model sees it.

Callers need the clinician scope (401/403 from the authentication layer come in the
service's JSON error shape, with ``WWW-Authenticate``). A Bundle always names a patient
(it holds exactly one Patient), so a clinician must have it in the token's context: its
FHIR id (``Patient/<id>``, as SMART launch contexts name it) or its dxkit patient
identifier; otherwise 403 as an ``OperationOutcome`` of type ``forbidden``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from dxkit.cases import fhir as fhir_in
from dxkit.cases.schema import Case, LabeledCase
from dxkit.errors import DxkitError, InputError
from dxkit.inference.microbatch import BatcherFullError
from dxkit.report.fhir_out import FHIR_JSON, differential_bundle, operation_outcome
from dxkit.service.audit import set_patient
from dxkit.service.auth import AuthError, Principal, check_patient_access
from dxkit.service.deps import (
    AUTH_RESPONSES,
    CLINICIAN_ONLY,
    RETRY_AFTER_S,
    ClinicianDep,
    StateDep,
)

if TYPE_CHECKING:
    from dxkit.deid.engine import Detector
    from dxkit.models.base import DiagnosisModel
    from dxkit.report.differential import Differential

router = APIRouter(
    prefix="/v1", tags=["fhir"], dependencies=CLINICIAN_ONLY, responses=AUTH_RESPONSES
)

_FIX = "send one FHIR R4 Bundle with a Patient and its Observations (see /docs)"


class FhirInputError(InputError):
    """A request the FHIR endpoint cannot use, with the FHIR issue type to report."""

    def __init__(self, code: str, what: str, *, expected: str, found: str, fix: str) -> None:
        super().__init__(what, expected=expected, found=found, fix=fix)
        self.code = code  # FHIR issue-type: invalid, structure, required, ...


def fhir_error(status: int, code: str, diagnostics: str, **headers: str) -> JSONResponse:
    """An OperationOutcome response with the FHIR media type."""
    return JSONResponse(
        operation_outcome(code, diagnostics),
        status_code=status,
        media_type=FHIR_JSON,
        headers=headers or None,
    )


def _describe(exc: DxkitError) -> str:
    return f"{exc.what}: expected {exc.expected}; found {exc.found}. Fix: {exc.fix}"


def parse_bundle(raw: Any) -> Any:
    """An R4B Bundle from decoded JSON, or FhirInputError naming the first bad element.

    Only pydantic's location and generic message are reported, never the value.
    """
    from fhir.resources.R4B.bundle import Bundle

    if not isinstance(raw, dict) or raw.get("resourceType") != "Bundle":
        kind = raw.get("resourceType") if isinstance(raw, dict) else type(raw).__name__
        found = f"resourceType {str(kind)[:40]!r}" if isinstance(raw, dict) else str(kind)
        raise FhirInputError(
            "structure", "request body", expected="a FHIR Bundle", found=found, fix=_FIX
        )
    try:
        return Bundle.model_validate(raw)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            raise _invalid_element(exc) from None
        # a resourceType FHIR R4 does not define ("Requirements", "Foo")
        raise FhirInputError(
            "invalid",
            "Bundle.entry.resource",
            expected="FHIR R4 resources (Patient, Observation, DocumentReference, ...)",
            found="a resource type FHIR R4 does not define",
            fix="send FHIR R4 resources only",
        ) from None


def _invalid_element(exc: ValidationError) -> FhirInputError:
    """The first invalid element, by path and error type, never by value."""
    first = exc.errors()[0]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
    return FhirInputError(
        "invalid",
        f"Bundle{where}"[:200],
        expected="a valid FHIR R4 element",
        found=str(first.get("type", "invalid")),
        fix="correct the element named (FHIR R4 JSON)",
    )


def _attachment_text(document: Any) -> list[str]:
    texts = []
    for content in document.content or []:
        att = content.attachment
        if att is None or att.data is None:
            continue
        if att.contentType and not str(att.contentType).startswith("text/plain"):
            continue
        try:
            # fhir.resources decodes base64Binary to bytes; older versions keep the str
            data = att.data if isinstance(att.data, bytes) else base64.b64decode(str(att.data))
            texts.append(data.decode("utf-8"))
        except (binascii.Error, UnicodeDecodeError):
            raise FhirInputError(
                "invalid",
                "DocumentReference.content.attachment.data",
                expected="base64 of UTF-8 text",
                found="undecodable data",
                fix="encode the note as UTF-8 and base64",
            ) from None
    return texts


def case_from_bundle(bundle: Any) -> tuple[Case, str]:
    """The case of the Bundle's one Patient, and the reference to use as the subject.

    An encounter diagnosis already in the Bundle is left out: the model is asked for its
    own differential, and today's diagnosis is not past history.
    """
    entries = bundle.entry or []
    patients = [
        (e, e.resource)
        for e in entries
        if e.resource is not None and e.resource.get_resource_type() == "Patient"
    ]
    if len(patients) != 1:
        raise FhirInputError(
            "required" if not patients else "invalid",
            "Bundle.entry",
            expected="exactly one Patient resource",
            found=f"{len(patients)} Patient resources",
            fix="send one Bundle per patient, with its Patient entry",
        )
    entry, patient = patients[0]
    data = fhir_in._PatientData(patient)
    subject = f"Patient/{patient.id}" if patient.id else str(entry.fullUrl or "")
    refs = {ref: data for ref in (subject, str(entry.fullUrl or "")) if ref}
    for i, item in enumerate(entries):
        res = item.resource
        kind = res.get_resource_type() if res is not None else None
        if kind not in ("Observation", "Condition", "DocumentReference"):
            continue
        if fhir_in._subject(res, refs, data) is None:
            raise FhirInputError(
                "invalid",
                f"Bundle.entry[{i}].resource.subject",
                expected="a reference to the Bundle's Patient",
                found="a reference to another patient",
                fix="send one Bundle per patient",
            )
        if kind == "Observation":
            fhir_in._add_observation(data, res)
        elif kind == "Condition":
            fhir_in._add_condition(data, res)
        else:
            data.notes.extend(_attachment_text(res))
    try:
        case = fhir_in._to_case(data, 0, "fhir")
    except ValidationError as exc:
        first = exc.errors()[0]
        raise FhirInputError(
            "invalid",
            "Patient / Observation values",
            expected="values dxkit accepts (age 0-125, UCUM units, finite numbers)",
            found=f"{'.'.join(str(p) for p in first['loc'])}: {first.get('type', 'invalid')}",
            fix="correct the element named",
        ) from None
    if isinstance(case, LabeledCase):
        case = case.case
    if not subject:
        subject = f"urn:dxkit:case:{case.case_id}"
    return case, subject


def has_content(case: Case) -> bool:
    """Whether there is anything to diagnose from (notes or observations)."""
    return bool(case.notes.strip() or case.observations)


def deidentify_and_diagnose(
    model: DiagnosisModel,
    detector: Detector,
    case: Case,
    *,
    top: int,
    predict: Callable[[Sequence[Case]], np.ndarray] | None = None,
) -> Differential:
    """The differential of the de-identified case, under the caller's case id.

    Not strict about codes: an EHR's vital-signs search returns codes dxkit does not use
    (BMI, head circumference); they are kept as warnings instead of failing the request.
    The Patient id of the Bundle is the case id: it is diagnosed under a server-made one,
    so no error message carries it, then the caller's is given back.
    """
    from dxkit.service.routes_diagnose import deidentify_and_diagnose_case

    answer = deidentify_and_diagnose_case(
        model, detector, case, top=top, strict=False, predict=predict
    )[1]
    return answer.model_copy(update={"case_id": case.case_id})


async def run_diagnosis(state: Any, case: Case, *, top: int) -> Differential:
    """Run the diagnosis in the bounded thread pool, within the service's time limit."""
    assert state.model is not None and state.detector is not None
    work = partial(
        deidentify_and_diagnose, state.model, state.detector, case, top=top, predict=state.predict
    )
    with anyio.fail_after(state.settings.request_timeout_s):
        answer: Differential = await anyio.to_thread.run_sync(
            work, abandon_on_cancel=True, limiter=state.limiter
        )
    state.metrics.observe_answers([answer])
    return answer


def may_submit(principal: Principal, case: Case, subject: str) -> bool:
    """Whether the Bundle's patient is in the caller's context (admins: always).

    Either name counts: the FHIR Patient id of ``subject`` or the case's patient id (the
    dxkit identifier, else the Patient id). A Patient with neither is refused to
    clinicians: it cannot be matched to their context. (Open: a Bundle may pair a
    permitted identifier with another Patient id; the caller supplied that data
    themselves and reads nothing back, but the stored case is filed under the permitted
    patient.)
    """
    named: list[str | None] = []
    if subject.startswith("Patient/"):
        named.append(subject.removeprefix("Patient/"))
    if case.patient_id:
        named.append(case.patient_id)
    for patient_id in named or [None]:
        try:
            check_patient_access(principal, patient_id)
        except AuthError:
            continue
        return True
    return False


_OUTCOME = {"content": {FHIR_JSON: {}}, "description": "a FHIR OperationOutcome"}


@router.post(
    "/diagnose/fhir",
    summary="Differential diagnosis of a FHIR R4 Bundle",
    response_class=JSONResponse,
    responses={
        200: {"content": {FHIR_JSON: {}}, "description": "Bundle: RiskAssessment + Conditions"},
        400: _OUTCOME,
        403: _OUTCOME,
        413: {"description": "body over the size limit"},
        422: _OUTCOME,
        503: _OUTCOME,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {FHIR_JSON: {"schema": {"type": "object"}}},
            "description": "A FHIR R4 Bundle: one Patient, its Observations, Conditions "
            "and notes (Observation.valueString or text/plain DocumentReference).",
        }
    },
)
async def diagnose_fhir(request: Request, state: StateDep, principal: ClinicianDep) -> JSONResponse:
    """A collection Bundle: one RiskAssessment and one differential Condition per candidate."""
    if not state.ready:
        headers = {"Retry-After": str(RETRY_AFTER_S)} if state.status == "loading" else {}
        return fhir_error(503, "transient", f"model {state.status}; retry later", **headers)
    try:
        raw = json.loads(await request.body())
    except (ValueError, RecursionError) as exc:  # bad JSON, bad UTF-8, absurd nesting
        where = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        return fhir_error(400, "structure", f"malformed JSON{where}: expected a FHIR Bundle")
    try:
        case, subject = case_from_bundle(parse_bundle(raw))
        if case.patient_id:
            set_patient(request, state.pseudonym(case.patient_id))
        if not may_submit(principal, case, subject):
            return fhir_error(
                403,
                "forbidden",
                "patient not in context: expected a Bundle whose Patient is in the token's "
                "'patient' claim. Fix: ask the identity provider for a token with this "
                "patient in context",
            )
        if not has_content(case):
            raise FhirInputError(
                "required",
                "Bundle",
                expected="notes or at least one Observation with a LOINC-coded quantity",
                found="no notes and no usable observations",
                fix="add the presenting complaint as a note, or the patient's vital signs",
            )
        answer = await run_diagnosis(state, case, top=state.settings.top)
    except FhirInputError as exc:
        return fhir_error(422 if exc.code != "structure" else 400, exc.code, _describe(exc))
    except BatcherFullError:
        return fhir_error(503, "transient", "service at capacity; retry", **{"Retry-After": "1"})
    except DxkitError as exc:
        return fhir_error(422, "invalid", _describe(exc))
    except TimeoutError:
        return fhir_error(503, "timeout", "diagnosis timed out; retry", **{"Retry-After": "1"})
    return JSONResponse(differential_bundle(answer, subject), media_type=FHIR_JSON)
