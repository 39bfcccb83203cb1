"""CDS Hooks 2.0: ``GET /cds-services`` and ``POST /cds-services/dxkit-differential``.

The EHR calls the hook when a clinician opens a chart (``patient-view``) and sends the
patient and recent vital signs as prefetch. The service never queries the EHR's FHIR
server (it holds no credentials for it and must answer within the spec's latency budget),
so a call without the required prefetch gets 412 saying so. The prefetched resources are
put into one Bundle and read by the same code as ``POST /v1/diagnose/fhir``; the case is
de-identified before the model sees it.

Both routes need a bearer token with the clinician scope (the EHR obtains it for the
user from the identity provider). The hook answers only for a patient in that token's
context: ``context.patientId`` and, when it has an id, the prefetched Patient must both
be in it (403 otherwise), so a token for one chart cannot be used to read another's.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from dxkit.errors import DxkitError
from dxkit.inference.microbatch import BatcherFullError
from dxkit.report.cds_hooks import (
    REQUIRED_PREFETCH,
    SERVICE_ID,
    CdsDiscovery,
    CdsRequest,
    CdsResponse,
    differential_card,
    discovery,
)
from dxkit.service.audit import set_patient
from dxkit.service.auth import check_patient_access
from dxkit.service.deps import AUTH_RESPONSES, CLINICIAN_ONLY, ClinicianDep, ReadyDep
from dxkit.service.errors import ErrorDetail, ErrorResponse, error_response, safe_field_errors
from dxkit.service.routes_fhir import case_from_bundle, has_content, parse_bundle, run_diagnosis


class CdsRoute(APIRoute):
    """A route whose request-validation errors are 400, as CDS clients expect.

    The service answers 422 to invalid bodies elsewhere; CDS Hooks 2.0 names 400 for a
    malformed hook request. The body is still declared as a model so the OpenAPI schema
    documents it.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                fields = safe_field_errors(exc.errors())
                malformed = any(f.type == "json_invalid" for f in fields)
                return _bad_request(
                    "malformed JSON" if malformed else "invalid CDS Hooks request",
                    "hook 'patient-view', hookInstance, context.userId and context.patientId",
                    "problems at: " + "; ".join("/".join(str(p) for p in f.loc) for f in fields),
                    "send a CDS Hooks 2.0 patient-view request",
                    fields=fields,
                )

        return handle


router = APIRouter(
    prefix="/cds-services",
    tags=["cds-hooks"],
    route_class=CdsRoute,
    dependencies=CLINICIAN_ONLY,
    responses=AUTH_RESPONSES,
)

_RESOURCES = ("Observation", "Condition", "DocumentReference")


class PrefetchMissing(Exception):
    """A required prefetch key is absent or null."""

    def __init__(self, keys: list[str]) -> None:
        super().__init__(", ".join(keys))
        self.keys = keys


def prefetch_bundle(prefetch: dict[str, Any] | None) -> dict[str, Any]:
    """One collection Bundle from the prefetched Patient and search-result Bundles.

    Raises:
        PrefetchMissing: ``patient`` or ``vitals`` absent or null (the spec's way of
            saying the EHR could not prefetch).
    """
    prefetch = prefetch or {}
    missing = [key for key in REQUIRED_PREFETCH if prefetch.get(key) is None]
    if missing:
        raise PrefetchMissing(missing)
    patient = prefetch["patient"]
    entries: list[Any] = [{"resource": patient}]
    for key, value in prefetch.items():
        if key == "patient" or not isinstance(value, dict):
            continue
        found: Any = value.get("entry")
        if not isinstance(found, list):
            continue  # a searchset without a list of entries holds nothing to read
        for entry in found:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            # searchsets may carry OperationOutcome or included resources: keep the data
            if isinstance(resource, dict) and resource.get("resourceType") in _RESOURCES:
                entries.append({"resource": resource})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _bad_request(what: str, expected: str, found: str, fix: str, **extra: Any) -> JSONResponse:
    return error_response(
        400, ErrorDetail(what=what, expected=expected, found=found, fix=fix, **extra)
    )


@router.get(
    "", summary="CDS Hooks discovery", response_model=CdsDiscovery, response_model_exclude_none=True
)
async def cds_discovery() -> CdsDiscovery:
    """The services this server offers, with their hooks and prefetch templates."""
    return discovery()


@router.post(
    f"/{SERVICE_ID}",
    summary="patient-view: differential diagnosis card",
    response_model=CdsResponse,
    response_model_exclude_none=True,
    responses={
        400: {"model": ErrorResponse, "description": "malformed hook request or prefetch"},
        412: {"model": ErrorResponse, "description": "required prefetch missing"},
        422: {"model": ErrorResponse, "description": "prefetched data dxkit cannot use"},
        503: {"model": ErrorResponse, "description": "model loading or timed out"},
    },
)
async def cds_differential(
    call: CdsRequest, request: Request, ready: ReadyDep, principal: ClinicianDep
) -> Any:
    """Cards for the opened chart: one differential card, none when there is no data."""
    set_patient(request, ready.state.pseudonym(call.context.patientId))
    check_patient_access(principal, call.context.patientId)
    patient = (call.prefetch or {}).get("patient")
    if isinstance(patient, dict) and isinstance(patient.get("id"), str) and patient["id"]:
        check_patient_access(principal, patient["id"])
    try:
        bundle = prefetch_bundle(call.prefetch)
    except PrefetchMissing as exc:
        return error_response(
            412,
            ErrorDetail(
                what="required prefetch missing",
                expected=f"prefetch with {', '.join(REQUIRED_PREFETCH)} (see GET /cds-services)",
                found=f"missing or null: {', '.join(exc.keys)}",
                fix="configure the EHR to send the prefetch; this service does not query "
                "FHIR servers",
            ),
        )
    try:
        case, _ = case_from_bundle(parse_bundle(bundle))
    except DxkitError as exc:
        return _bad_request(f"prefetch: {exc.what}", exc.expected, exc.found, exc.fix)
    if not has_content(case):
        return CdsResponse(cards=[])  # nothing to say: the spec's quiet answer
    try:
        answer = await run_diagnosis(ready.state, case, top=ready.state.settings.top)
    except TimeoutError:
        raise HTTPException(503, "diagnosis timed out", {"Retry-After": "1"}) from None
    except BatcherFullError:
        raise HTTPException(503, "at capacity", {"Retry-After": "1"}) from None
    docs = str(request.base_url).rstrip("/") + "/docs"
    return CdsResponse(cards=[differential_card(answer, docs_url=docs)])
