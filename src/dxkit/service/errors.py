"""Every error the service answers has one JSON shape, and none of them echoes input.

Why this matters here: a request body is a patient case whose notes are patient text.
FastAPI's default validation error repeats the offending ``input``, and a default 500
page can carry a traceback; both would send or log patient text. So all errors leave as
``{"error": {"what", "expected", "found", "fix"}}`` built from field names and pydantic's
generic messages, and unexpected exceptions as ``{"error": {"what": "internal error",
"id": ...}}`` with the traceback logged under that id, without the exception's message.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dxkit.errors import DxkitError, InputError

log = logging.getLogger("dxkit.service")
_MAX_LOC_PART = 64  # a dict key in a location is user input too: keep it short


class FieldError(BaseModel):
    """Where a request failed validation (a path into the body) and pydantic's reason."""

    loc: list[str | int]
    type: str
    msg: str


class ErrorDetail(BaseModel):
    """What went wrong, what was expected, what was found instead, and how to fix it."""

    what: str
    expected: str | None = None
    found: str | None = None
    fix: str | None = None
    id: str | None = None  # of an internal error, to find its logged traceback
    fields: list[FieldError] | None = None


class ErrorResponse(BaseModel):
    """The body of every error response of the service."""

    error: ErrorDetail


def error_response(
    status: int, detail: ErrorDetail, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A JSON error response in the service's one shape (``None`` fields left out)."""
    content = ErrorResponse(error=detail).model_dump(exclude_none=True)
    return JSONResponse(content, status_code=status, headers=headers)


def safe_field_errors(errors: Any) -> list[FieldError]:
    """Pydantic's errors without ``input``, ``ctx`` or ``url``: paths and reasons only.

    A message that still contains the offending value (a custom validator may write it)
    is replaced by the error type.
    """
    safe = []
    for err in errors:
        value = err.get("input")
        msg = str(err.get("msg", ""))
        if isinstance(value, str | int | float) and len(str(value)) >= 3 and str(value) in msg:
            msg = str(err.get("type", "invalid"))
        loc = [part if isinstance(part, int) else str(part)[:_MAX_LOC_PART] for part in err["loc"]]
        safe.append(FieldError(loc=loc, type=str(err.get("type", "invalid")), msg=msg))
    return safe


async def _dxkit_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DxkitError)
    status = 422 if isinstance(exc, InputError) else 400
    detail = ErrorDetail(what=exc.what, expected=exc.expected, found=exc.found, fix=exc.fix)
    return error_response(status, detail)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = safe_field_errors(exc.errors())
    malformed = any(f.type == "json_invalid" for f in fields)
    detail = ErrorDetail(
        what="malformed JSON" if malformed else "request validation failed",
        expected="a JSON body matching the schema at /docs",
        found=f"{len(fields)} problem(s) at: "
        + "; ".join("/".join(str(p) for p in f.loc) for f in fields),
        fix="correct the fields listed in 'fields' (unknown fields are rejected)",
        fields=fields,
    )
    return error_response(422, detail)


_BODY_PARSE_ERROR = "there was an error parsing the body"


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 400 and detail.lower() == _BODY_PARSE_ERROR:
        # FastAPI's answer to a body it cannot decode (not UTF-8): the same 422 as any
        # other malformed JSON, which is what the routes document
        return error_response(
            422,
            ErrorDetail(
                what="malformed body",
                expected="a JSON document in UTF-8",
                found="bytes that are not UTF-8 JSON",
                fix="send the case as UTF-8 JSON with Content-Type: application/json",
            ),
        )
    return error_response(exc.status_code, ErrorDetail(what=detail.lower()), exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every expected error the service's shape."""
    app.add_exception_handler(DxkitError, _dxkit_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)


class CatchAllMiddleware:
    """Turns an unexpected exception into a 500 with an id, and logs it once.

    Why a middleware and not ``add_exception_handler(Exception, ...)``: Starlette's
    server-error handler re-raises after answering, so the server would log the full
    exception (message included) a second time. The log line here holds the id, the
    route template (not the path, which may hold ids) and the stack without the
    exception's message, since messages of arbitrary exceptions can quote patient data;
    ``show_messages`` (dev mode) adds it back.
    """

    def __init__(self, app: ASGIApp, *, show_messages: bool = False) -> None:
        self.app = app
        self.show_messages = show_messages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            error_id = str(uuid.uuid4())
            log.error(
                "internal error %s on %s %s\n%s",
                error_id,
                scope.get("method", "?"),
                route_template(scope),
                self._describe(exc),
            )
            if started:  # too late to answer: let the server close the connection
                raise
            response = error_response(500, ErrorDetail(what="internal error", id=error_id))
            await response(scope, receive, send)

    def _describe(self, exc: BaseException) -> str:
        if self.show_messages:
            return "".join(traceback.format_exception(exc))
        stack = "".join(traceback.format_tb(exc.__traceback__))
        return f"Traceback (message withheld):\n{stack}{type(exc).__qualname__}"


def route_template(scope: Scope) -> str:
    """The matched route's template (``/v1/cases/{id}``), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
