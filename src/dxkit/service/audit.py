"""The audit trail: one row per request to a patient-facing route, written whatever happens.

Why an ASGI middleware and not a route dependency: the entry must record the outcome (the
status the client actually got, 413s, 422s and 500s included), which is only known once
the response starts, and it must land even when the request's own transaction rolled
back. So the middleware writes it in its own transaction the moment the status is known,
before the body leaves: if the audit cannot be written, the client gets a 503 instead of
the answer, and no patient data is handed out unaudited.

An entry holds the time, the actor's and the patient's pseudonyms (HMACs under the
server secret), the caller's scopes, the route template (``/v1/cases/{id}``, never the
raw path), the method, the status and a server-made request id, returned to the client
in ``X-Request-ID`` so a complaint can be matched to its row. Never note text, never
identifiers: a client-sent ``X-Request-ID`` is ignored, since it could hold anything.

Routes and the authentication dependency fill in who and which patient through
:func:`set_actor` and :func:`set_patient`; the actor stays empty only for requests
refused before a token was verified (the 401s).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio.to_thread
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dxkit.service.errors import ErrorDetail, error_response, route_template
from dxkit.service.storage.models import AUDITED_METHODS

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from dxkit.service.deps import ServiceState

log = logging.getLogger("dxkit.service.audit")

AUDITED_PREFIXES = ("/v1/", "/cds-services")
REQUEST_ID_HEADER = "X-Request-ID"
_STATE_KEY = "dxkit_audit"
_SCOPE = re.compile(r"[a-z][a-z0-9_.:-]{0,31}")
_HEX_KEY = re.compile(r"[0-9a-f]{64}")
MAX_SCOPES = 8  # what the audit table's scopes column holds


@dataclass
class AuditContext:
    """What a request's handlers learnt about who asked and about which patient."""

    request_id: str
    actor_key: str | None = None
    patient_key: str | None = None
    scopes: list[str] = field(default_factory=list)
    # Set when a route wrote the entry in the transaction that stored its data.
    recorded_status: int | None = None


def audit_context(request: Request) -> AuditContext | None:
    """The audit context of ``request``; ``None`` for a route that is not audited."""
    context = request.scope.get("state", {}).get(_STATE_KEY)
    return context if isinstance(context, AuditContext) else None


def set_actor(
    request: Request,
    actor_key: str,
    scopes: Iterable[str] = (),
    patient_key: str | None = None,
) -> None:
    """Record who is calling (the authentication dependency calls this).

    Args:
        request: the current request.
        actor_key: the caller's pseudonym; a raw subject (token ``sub``) is accepted and
            turned into its pseudonym here, so a raw id can never reach the table.
        scopes: the token's scopes; names the audit format cannot hold are dropped.
        patient_key: the patient in the token's context, raw or as pseudonym.
    """
    context = audit_context(request)
    if context is None:
        return
    context.actor_key = _as_key(request, actor_key)
    context.scopes = sorted({s for s in scopes if _SCOPE.fullmatch(s)})[:MAX_SCOPES]
    if patient_key is not None:
        context.patient_key = _as_key(request, patient_key)


def set_patient(request: Request, patient_key: str | None) -> None:
    """Record which patient the request concerns (raw id or pseudonym); ``None`` = none."""
    context = audit_context(request)
    if context is not None and patient_key is not None:
        context.patient_key = _as_key(request, patient_key)


def _as_key(request: Request, value: str) -> str | None:
    if _HEX_KEY.fullmatch(value):
        return value
    state: ServiceState = request.app.state.dxkit
    return state.pseudonym(value) if state.patient_secret else None  # never raw


def write_audit(state: ServiceState, context: AuditContext, scope: Scope, status: int) -> None:
    """Write one audit entry in its own transaction (raises when it cannot)."""
    from dxkit.service.storage import record_audit, session_scope

    if state.sessions is None:
        raise RuntimeError("storage is not open")
    with session_scope(state.sessions) as session:
        record_audit(
            session,
            endpoint=_endpoint(scope),
            method=str(scope.get("method", "GET")),
            status_code=status,
            request_id=context.request_id,
            actor_key=context.actor_key,
            patient_key=context.patient_key,
            scopes=context.scopes,
        )


def record_with_data(session: Session, request: Request, status: int) -> None:
    """Add this request's audit entry to ``session``, the transaction storing its data.

    Why: written afterwards, in its own transaction, an entry could fail after the data
    had committed, leaving stored patient data with no trace of who stored it. In the
    same transaction both land or neither does. The middleware then writes nothing
    more, unless the client ends up with another status than ``status`` (an answer that
    fails after the commit): that status gets an entry of its own, same request id.
    """
    from dxkit.service.storage import record_audit

    context = audit_context(request)
    if context is None:
        return
    record_audit(
        session,
        endpoint=_endpoint(request.scope),
        method=str(request.scope.get("method", "GET")),
        status_code=status,
        request_id=context.request_id,
        actor_key=context.actor_key,
        patient_key=context.patient_key,
        scopes=context.scopes,
    )
    context.recorded_status = status


def _endpoint(scope: Scope) -> str:
    template = route_template(scope)
    return template if template.startswith("/") else "/unmatched"


class AuditMiddleware:
    """Gives every request an ``X-Request-ID`` and audits those under the audited prefixes.

    Place it outside the error handling middleware, so it sees the final status.
    """

    def __init__(
        self, app: ASGIApp, *, state: ServiceState, prefixes: tuple[str, ...] = AUDITED_PREFIXES
    ) -> None:
        self.app = app
        self.state = state
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context = AuditContext(request_id=uuid.uuid4().hex)
        audited = str(scope.get("path", "")).startswith(self.prefixes) and (
            str(scope.get("method", "")) in AUDITED_METHODS  # TRACE, QUERY: a plain 405
        )
        if audited:
            scope.setdefault("state", {})[_STATE_KEY] = context
        written = replaced = False

        async def audit_then_send(message: Message) -> None:
            nonlocal written, replaced
            if replaced:  # the original answer is withheld: its audit entry is missing
                return
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", context.request_id.encode("ascii")))
                message = {**message, "headers": headers}
                status = int(message["status"])
                if audited and context.recorded_status == status:
                    written = True  # stored with the request's data, in its transaction
                elif audited:
                    written = True
                    if not await self._write(context, scope, status):
                        replaced = True
                        await self._unavailable(context, scope, receive, send)
                        return
            await send(message)

        try:
            await self.app(scope, receive, audit_then_send)
        finally:
            if audited and not written:  # failed before answering: the server sends 500
                await self._write(context, scope, 500)

    async def _write(self, context: AuditContext, scope: Scope, status: int) -> bool:
        try:
            await anyio.to_thread.run_sync(write_audit, self.state, context, scope, status)
        except Exception as exc:  # by type only: a driver message may quote parameters
            log.error(
                "audit entry for request %s not written (%s)",
                context.request_id,
                type(exc).__name__,
            )
            return False
        return True

    async def _unavailable(
        self, context: AuditContext, scope: Scope, receive: Receive, send: Send
    ) -> None:
        response = error_response(
            503,
            ErrorDetail(
                what="audit log unavailable",
                fix="retry later; answers are withheld while they cannot be audited",
                id=context.request_id,
            ),
            headers={REQUEST_ID_HEADER: context.request_id, "Retry-After": "5"},
        )
        await response(scope, receive, send)
