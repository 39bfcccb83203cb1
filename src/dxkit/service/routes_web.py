"""The clinician's web page (``/`` and ``/static/*``) and its login (``/v1/session``).

The page is static files shipped in the package (``dxkit/service/web``): plain HTML,
CSS and JavaScript, no build step and nothing fetched from elsewhere. They are served
with a strict Content-Security-Policy (``default-src 'self'``, no inline script, no
framing) so an injected string in an answer cannot run as code, and they hold no
patient data, so they sit outside the audited ``/v1`` prefix.

Login trades one bearer token for a browser session (see :mod:`dxkit.service.sessions`
for why, and for the cookie and CSRF rules): ``POST /v1/session`` needs a *bearer*
token with the clinician scope (a session cannot renew itself past its limits) and
answers the CSRF token the page must echo; ``DELETE /v1/session`` logs out.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import cache
from importlib import resources

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from dxkit.service.auth import AuthError
from dxkit.service.deps import AUTH_RESPONSES, CLINICIAN_ONLY, ClinicianDep
from dxkit.service.errors import ErrorDetail, ErrorResponse
from dxkit.service.ratelimit import RateLimitDep
from dxkit.service.sessions import (
    COOKIE_NAME,
    CSRF_HEADER,
    SessionStoreFull,
    cookie_is_secure,
    session_store,
)

# The page's files and their types; anything else under /static is a 404.
STATIC_FILES = {
    "app.js": "text/javascript; charset=utf-8",
    "i18n.js": "text/javascript; charset=utf-8",
    "charts.js": "text/javascript; charset=utf-8",
    "core.js": "text/javascript; charset=utf-8",
    "answer.js": "text/javascript; charset=utf-8",
    "views.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

page_router = APIRouter(include_in_schema=False)
session_router = APIRouter(prefix="/v1", tags=["web page"])


@cache
def _asset(name: str) -> bytes:
    return resources.files("dxkit.service.web").joinpath(name).read_bytes()


def _static(name: str, media_type: str) -> Response:
    return Response(_asset(name), media_type=media_type, headers=SECURITY_HEADERS)


@page_router.get("/")
async def index() -> Response:
    """The page itself."""
    return _static("index.html", "text/html; charset=utf-8")


@page_router.get("/static/{name}")
async def static_file(name: str) -> Response:
    """One of the page's files; only the listed names, so no path can reach elsewhere."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise HTTPException(404, detail="not found")
    return _static(name, media_type)


class SessionOut(BaseModel):
    """What the page keeps in memory after login (never in browser storage)."""

    csrf_token: str = Field(description=f"send it back in the {CSRF_HEADER} header")
    csrf_header: str = CSRF_HEADER
    expires_at: str = Field(description="ISO 8601; log in again after it")
    idle_timeout_s: int
    scopes: list[str]
    patients: list[str] = Field(description="patient ids of the token's context")


_SESSION_ERRORS: dict[int | str, dict[str, object]] = {
    503: {"model": ErrorResponse, "description": "too many live sessions"},
}


@session_router.post(
    "/session",
    summary="Exchange a bearer token for a browser session (cookie + CSRF token)",
    status_code=201,
    response_model=SessionOut,
    dependencies=CLINICIAN_ONLY,
    responses=AUTH_RESPONSES | _SESSION_ERRORS,
)
async def create_session(
    request: Request, response: Response, principal: ClinicianDep
) -> SessionOut:
    """Log in: an HttpOnly, SameSite=Strict session cookie and the CSRF token to echo."""
    if getattr(request.state, "auth_via", None) != "bearer":
        detail = ErrorDetail(
            what="bearer token required",
            expected="an 'Authorization: Bearer <JWT>' header",
            found="a session cookie",
            fix="log in with a fresh token from the identity provider",
        )
        raise AuthError(401, detail, 'Bearer realm="dxkit"')
    store = session_store(request.app)
    try:
        new = store.create(principal)
    except SessionStoreFull:
        raise HTTPException(
            503, detail="too many live sessions", headers={"Retry-After": "60"}
        ) from None
    response.set_cookie(
        COOKIE_NAME,
        new.session_id,
        max_age=max(1, int(new.expires_at - time.time())),
        path="/",
        secure=cookie_is_secure(request),
        httponly=True,
        samesite="strict",
    )
    return SessionOut(
        csrf_token=new.csrf,
        expires_at=datetime.fromtimestamp(new.expires_at, UTC).isoformat(),
        idle_timeout_s=int(store.idle_timeout_s),
        scopes=sorted(principal.scopes),
        patients=sorted(principal.patients),
    )


@session_router.delete(
    "/session",
    summary="Log out: end the browser session and clear its cookie",
    status_code=204,
    response_class=Response,
    dependencies=[RateLimitDep],
    responses={429: AUTH_RESPONSES[429]},
)
async def end_session(request: Request) -> Response:
    """Always clears the cookie; ends the server session when the CSRF header matches."""
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie is not None and getattr(request.state, "auth_via", None) == "session":
        session_store(request.app).end(cookie)
    response = Response(status_code=204)
    response.delete_cookie(
        COOKIE_NAME, path="/", secure=cookie_is_secure(request), httponly=True, samesite="strict"
    )
    return response
