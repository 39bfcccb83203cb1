"""Token-bucket rate limiting: refill on an injected clock, 429 + Retry-After, bounds."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dxkit.service import devkeys
from dxkit.service.auth import AuthConfig, Authenticator, PrincipalDep, install_auth, key_for
from dxkit.service.errors import install_error_handlers
from dxkit.service.ratelimit import (
    RateLimitDep,
    TokenBucketLimiter,
    install_rate_limit,
    limiter_from_settings,
)

SECRET = "a-test-secret-of-32-bytes-000000"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(rate_per_s=0.5, burst=3, clock=clock)
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(2.0)  # one token every 2 s
    assert limiter.acquire("b") == 0.0  # buckets are per key
    clock.now += 1.0
    assert limiter.acquire("a") == pytest.approx(1.0)  # half a token back
    clock.now += 1.0
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0.0


def test_idle_buckets_are_evicted_and_the_count_is_bounded() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(rate_per_s=1.0, burst=2, max_buckets=3, clock=clock)
    for key in "abcde":
        limiter.acquire(key)
    assert len(limiter) == 3  # least recently used went first
    clock.now += 2.0  # long enough for every bucket to be full again
    limiter.acquire("z")
    assert len(limiter) == 1


def test_bucket_is_thread_safe() -> None:
    limiter = TokenBucketLimiter(rate_per_s=1.0, burst=50, clock=FakeClock())
    allowed: list[int] = []

    def hammer() -> None:
        allowed.append(sum(limiter.acquire("same") == 0.0 for _ in range(100)))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(allowed) == 50  # the clock stands still: exactly the burst, no more


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="rate_per_s must be > 0"):
        TokenBucketLimiter(rate_per_s=0.0, burst=1)
    with pytest.raises(ValueError, match="burst and max_buckets >= 1"):
        TokenBucketLimiter(rate_per_s=1.0, burst=0)


def test_limits_come_from_settings() -> None:
    default = limiter_from_settings(SimpleNamespace())
    assert (default.rate_per_s, default.burst) == (2.0, 20)
    custom = limiter_from_settings(SimpleNamespace(rate_limit_per_minute=30, rate_limit_burst=5))
    assert (custom.rate_per_s, custom.burst) == (0.5, 5)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def client(ec_key: ec.EllipticCurvePrivateKey, clock: FakeClock) -> Iterator[TestClient]:
    app = FastAPI()
    install_error_handlers(app)
    config = AuthConfig((key_for(ec_key.public_key()),), devkeys.DEV_ISSUER, "dxkit", SECRET)
    install_auth(app, Authenticator(config))
    install_rate_limit(app, TokenBucketLimiter(rate_per_s=1.0, burst=2, clock=clock))

    @app.get("/v1/ping", dependencies=[RateLimitDep])
    def ping(principal: PrincipalDep) -> dict[str, Any]:
        return {"ok": True}

    with TestClient(app) as test_client:
        yield test_client


def call(client: TestClient, key: ec.EllipticCurvePrivateKey | None, subject: str = "dr-a") -> Any:
    if key is None:
        return client.get("/v1/ping")
    token = devkeys.dev_token(["clinician"], None, key, subject=subject)
    return client.get("/v1/ping", headers={"Authorization": f"Bearer {token}"})


def test_429_with_retry_after_then_recovery(
    client: TestClient, ec_key: ec.EllipticCurvePrivateKey, clock: FakeClock
) -> None:
    assert [call(client, ec_key).status_code for _ in range(2)] == [200, 200]
    limited = call(client, ec_key)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    error = limited.json()["error"]
    assert error["what"] == "rate limit exceeded"
    assert error["expected"] == "at most 60 requests a minute, bursts of 2"
    assert call(client, ec_key, subject="dr-b").status_code == 200  # another principal
    clock.now += 1.0  # the refill time: no sleeping
    assert call(client, ec_key).status_code == 200
    assert call(client, ec_key).status_code == 429


def test_unauthenticated_callers_are_limited_by_address(client: TestClient) -> None:
    assert [call(client, None).status_code for _ in range(3)] == [401, 401, 429]
    stranger = ec.generate_private_key(ec.SECP256R1())  # bad signatures count too
    assert call(client, stranger).status_code == 429
