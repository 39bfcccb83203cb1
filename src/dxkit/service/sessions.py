"""Browser sessions for the web page: one bearer token exchanged for an HttpOnly cookie.

Why sessions at all: bearer tokens are single-use (a replayed ``jti`` is refused), so a
page cannot keep one token and send it with every request. Instead the page trades one
fresh token for a server-side session (``POST /v1/session``); the session carries the
token's verified :class:`~dxkit.service.auth.Principal` (pseudonym, scopes, patient
context) and dies with the token, after :data:`IDLE_TIMEOUT_S` without use, or
:data:`ABSOLUTE_TIMEOUT_S` after login, whichever comes first.

Why a cookie *and* a header: the cookie (random, opaque, HttpOnly, ``SameSite=Strict``,
``Path=/``, ``Secure`` outside loopback dev mode) cannot be read by scripts, so an
injected script cannot steal it; the per-session CSRF token is returned once in the
login answer and kept in the page's memory only, and every cookie-authenticated request
must echo it in :data:`CSRF_HEADER`. A cross-site form can make the browser send the
cookie but cannot set a custom header, so it cannot act as the clinician.

Only a hash of the session id is kept, so a memory dump does not hand out live cookies.
Sessions live in this process's memory: with several replicas, pin a browser to one
(sticky sessions) or move :class:`SessionStore` to a shared store (e.g. Redis).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from dxkit.service.auth import Principal

COOKIE_NAME = "dxkit_session"
CSRF_HEADER = "X-Dxkit-Csrf"
IDLE_TIMEOUT_S = 30 * 60  # a forgotten workstation logs itself out
ABSOLUTE_TIMEOUT_S = 8 * 60 * 60  # one clinical shift, at most
MAX_SESSIONS = 10_000  # bounds memory; past it, logins wait for sessions to expire
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class SessionStoreFull(Exception):
    """More live sessions than the store may hold (the route answers 503)."""


@dataclass
class WebSession:
    """One logged-in browser: who it is, its CSRF token and when it expires."""

    principal: Principal
    csrf: str
    expires_at: float  # the token's expiry or the absolute limit, whichever is first
    last_seen: float


@dataclass(frozen=True)
class NewSession:
    """What a login hands out: the cookie value, the CSRF token and the expiry."""

    session_id: str
    csrf: str
    expires_at: float


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


class SessionStore:
    """Thread-safe in-memory sessions keyed by the hash of their cookie value."""

    def __init__(
        self,
        *,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        absolute_timeout_s: float = ABSOLUTE_TIMEOUT_S,
        max_sessions: int = MAX_SESSIONS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.idle_timeout_s = idle_timeout_s
        self.absolute_timeout_s = absolute_timeout_s
        self.max_sessions = max_sessions
        self.clock = clock
        self._sessions: dict[str, WebSession] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, principal: Principal) -> NewSession:
        """A new session for ``principal``; raises :class:`SessionStoreFull` when full."""
        now = self.clock()
        expires = min(principal.expires_at, now + self.absolute_timeout_s)
        session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._lock:
            self._purge(now)
            if len(self._sessions) >= self.max_sessions:
                raise SessionStoreFull
            self._sessions[_digest(session_id)] = WebSession(principal, csrf, expires, now)
        return NewSession(session_id, csrf, expires)

    def resolve(self, session_id: str, csrf: str | None) -> Principal | str:
        """The session's principal, or why not (a short reason, never the values sent).

        A wrong CSRF token does not end the session (the page's own next request must
        still work), but it is never accepted either.
        """
        now = self.clock()
        key = _digest(session_id)
        with self._lock:
            found = self._sessions.get(key)
            if found is None:
                return "no such session (logged out or expired)"
            if now >= found.expires_at or now - found.last_seen > self.idle_timeout_s:
                del self._sessions[key]
                return "session expired"
            if csrf is None or not hmac.compare_digest(csrf.encode(), found.csrf.encode()):
                return f"missing or wrong {CSRF_HEADER} header"
            found.last_seen = now
            return found.principal

    def end(self, session_id: str) -> bool:
        """Forget the session; False when there was none."""
        with self._lock:
            return self._sessions.pop(_digest(session_id), None) is not None

    def _purge(self, now: float) -> None:
        stale = [
            key
            for key, s in self._sessions.items()
            if now >= s.expires_at or now - s.last_seen > self.idle_timeout_s
        ]
        for key in stale:
            del self._sessions[key]


_INSTALL_LOCK = threading.Lock()


def session_store(app: object) -> SessionStore:
    """The app's session store, made on first use (building an app does no extra work)."""
    state = app.state  # type: ignore[attr-defined]
    store = getattr(state, "dxkit_sessions", None)
    if isinstance(store, SessionStore):
        return store
    with _INSTALL_LOCK:
        store = getattr(state, "dxkit_sessions", None)
        if not isinstance(store, SessionStore):
            store = SessionStore()
            state.dxkit_sessions = store
        return store


def cookie_is_secure(connection: HTTPConnection) -> bool:
    """Whether the cookie must be ``Secure``: always, except plain http on loopback in dev.

    The server's own address is used, not the client-sent ``Host`` header.
    """
    state = getattr(connection.app.state, "dxkit", None)
    dev = bool(getattr(getattr(state, "settings", None), "dev_mode", False))
    server = connection.scope.get("server") or ("", 0)
    loopback = str(server[0]) in _LOOPBACK
    return not (dev and loopback and connection.url.scheme == "http")
