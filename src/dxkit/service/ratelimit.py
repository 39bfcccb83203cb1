"""Rate limiting: a token bucket per caller, 429 with ``Retry-After`` when it runs dry.

Why a route dependency and not an ASGI middleware: the bucket belongs to the *verified*
caller. A middleware runs before authentication, so it could only key on the unverified
``sub`` of a token (anyone could drain a colleague's bucket by forging one) or verify
the token a second time, spending its one-time ``jti``. As a dependency it reuses the
request's cached :func:`~dxkit.service.auth.authenticate` result: a valid token is
counted against its principal's pseudonym, and a missing or invalid one against the
client address, *before* the 401 is raised, so guessing tokens is throttled too.
Routes that must never be throttled (``/healthz``, ``/readyz`` for the orchestrator)
simply do not depend on it. Behind a reverse proxy, run uvicorn with
``--proxy-headers --forwarded-allow-ips`` so the client address is the real one.

Each bucket holds up to ``burst`` requests and refills at ``rate`` per second. Memory is
bounded: a bucket idle long enough to be full again is dropped (a fresh bucket is the
same thing), and past ``max_buckets`` the least recently used one goes.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from dxkit.service.auth import AuthError, Principal, authenticate
from dxkit.service.errors import ErrorDetail, error_response

DEFAULT_PER_MINUTE = 120.0
DEFAULT_BURST = 20
MAX_BUCKETS = 10_000


@dataclass
class _Bucket:
    tokens: float
    updated: float  # clock reading of the last refill


class TokenBucketLimiter:
    """Thread-safe token buckets keyed by caller; ``clock`` is injectable for tests."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        max_buckets: int = MAX_BUCKETS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (rate_per_s > 0 and math.isfinite(rate_per_s)) or burst < 1 or max_buckets < 1:
            raise ValueError("rate_per_s must be > 0, burst and max_buckets >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_buckets = max_buckets
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def acquire(self, key: str) -> float:
        """Take one request from ``key``'s bucket: 0.0 if allowed, else seconds to wait."""
        with self._lock:
            now = self.clock()
            bucket = self._buckets.pop(key, None) or _Bucket(float(self.burst), now)
            self._evict(now)  # makes room for ``key``, which is never evicted here
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate_per_s)
            bucket.updated = now
            self._buckets[key] = bucket  # re-inserted last: most recently used
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate_per_s

    def _evict(self, now: float) -> None:
        refill_s = self.burst / self.rate_per_s  # after this long idle, a bucket is full
        while self._buckets:
            oldest = next(iter(self._buckets.values()))
            full_again = now - oldest.updated >= refill_s
            if not full_again and len(self._buckets) < self.max_buckets:
                return
            self._buckets.popitem(last=False)


class RateLimited(HTTPException):
    """429 with ``Retry-After`` in whole seconds (rounded up, at least 1)."""

    def __init__(self, wait_s: float, limiter: TokenBucketLimiter) -> None:
        retry = max(1, math.ceil(wait_s))
        super().__init__(429, detail="rate limit exceeded", headers={"Retry-After": str(retry)})
        self.error = ErrorDetail(
            what="rate limit exceeded",
            expected=f"at most {limiter.rate_per_s * 60:g} requests a minute, "
            f"bursts of {limiter.burst}",
            found="more requests than that from this caller",
            fix=f"retry after {retry} s",
        )


def client_key(request: Request, result: Principal | AuthError) -> str:
    """The bucket's key: the principal's pseudonym, else the client address."""
    if isinstance(result, Principal):
        return f"actor:{result.actor_key}"
    host = request.client.host if request.client is not None else "unknown"
    return f"ip:{host}"


def rate_limit(
    request: Request, result: Annotated[Principal | AuthError, Depends(authenticate)]
) -> None:
    """Dependency: spend one request of the caller's bucket or answer 429."""
    limiter = getattr(request.app.state, "dxkit_ratelimit", None)
    if not isinstance(limiter, TokenBucketLimiter):
        raise RuntimeError("rate limiting is not installed: call install_rate_limit(app, ...)")
    wait_s = limiter.acquire(client_key(request, result))
    if wait_s > 0:
        raise RateLimited(wait_s, limiter)


RateLimitDep = Depends(rate_limit)  # for ``dependencies=[RateLimitDep]`` on a router


def limiter_from_settings(settings: Any) -> TokenBucketLimiter:
    """A limiter from ``rate_limit_per_minute`` and ``rate_limit_burst`` (``DXKIT_*``)."""
    per_minute = float(getattr(settings, "rate_limit_per_minute", None) or DEFAULT_PER_MINUTE)
    burst = int(getattr(settings, "rate_limit_burst", None) or DEFAULT_BURST)
    return TokenBucketLimiter(per_minute / 60.0, burst)


async def _rate_limited(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RateLimited)
    return error_response(429, exc.error, exc.headers)


def install_rate_limit(app: FastAPI, limiter: TokenBucketLimiter) -> TokenBucketLimiter:
    """Put ``limiter`` on the app and answer 429s in the service's error shape."""
    app.state.dxkit_ratelimit = limiter
    app.add_exception_handler(RateLimited, _rate_limited)
    return limiter
