"""Browser sessions: token-for-cookie login, CSRF header, expiry, logout, audit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from dxkit.service.auth import Principal
from dxkit.service.sessions import COOKIE_NAME, CSRF_HEADER, SessionStore, SessionStoreFull
from dxkit.service.storage import pseudonym


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def principal(expires_at: float = 10_000.0) -> Principal:
    return Principal(
        "a" * 64, frozenset({"clinician"}), frozenset({"p-1"}), frozenset(), expires_at
    )


def test_a_session_resolves_only_with_its_csrf_token() -> None:
    store = SessionStore(clock=Clock())
    new = store.create(principal())
    assert store.resolve(new.session_id, new.csrf) == principal()
    assert "X-Dxkit-Csrf" in str(store.resolve(new.session_id, None))
    assert "wrong" in str(store.resolve(new.session_id, new.csrf + "x"))
    assert "no such session" in str(store.resolve("forged", new.csrf))
    assert store.resolve(new.session_id, new.csrf) == principal()  # a bad header ends nothing


def test_only_a_hash_of_the_cookie_is_kept() -> None:
    store = SessionStore(clock=Clock())
    new = store.create(principal())
    assert new.session_id not in store._sessions
    assert len(new.session_id) >= 40 and new.session_id != new.csrf


@pytest.mark.parametrize(
    ("token_expiry", "advance", "alive"),
    [
        (10_000.0, 60.0, True),
        (1_100.0, 200.0, False),  # dies with its token
        (1e9, 31 * 60.0, False),  # idle too long
    ],
)
def test_sessions_expire_with_the_token_or_when_idle(
    token_expiry: float, advance: float, alive: bool
) -> None:
    clock = Clock()
    store = SessionStore(clock=clock)
    new = store.create(principal(token_expiry))
    clock.now += advance
    assert isinstance(store.resolve(new.session_id, new.csrf), Principal) is alive


def test_sessions_end_at_the_absolute_limit_even_when_used() -> None:
    clock = Clock()
    store = SessionStore(clock=clock, idle_timeout_s=100, absolute_timeout_s=250)
    new = store.create(principal(1e9))
    for _ in range(4):
        clock.now += 60
        assert isinstance(store.resolve(new.session_id, new.csrf), Principal)
    clock.now += 60
    assert store.resolve(new.session_id, new.csrf) == "session expired"


def test_a_full_store_refuses_new_sessions_until_old_ones_expire() -> None:
    clock = Clock()
    store = SessionStore(clock=clock, max_sessions=1, idle_timeout_s=10)
    store.create(principal())
    with pytest.raises(SessionStoreFull):
        store.create(principal())
    clock.now += 11
    store.create(principal())
    assert len(store) == 1


def login(client: TestClient, token: str) -> dict[str, Any]:
    response = client.post("/v1/session", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_login_sets_a_strict_httponly_cookie_and_returns_the_csrf_token(
    make_web_app: Callable[..., Any],
    token_auth: Callable[..., Any],
    new_token: Callable[[Any], str],
) -> None:
    with TestClient(make_web_app(), base_url="https://testserver") as client:
        response = client.post(
            "/v1/session",
            headers={"Authorization": f"Bearer {new_token(token_auth(patient='p-1'))}"},
        )
    assert response.status_code == 201, response.text
    cookie = response.headers["set-cookie"]
    for flag in ("HttpOnly", "SameSite=strict", "Path=/", "Secure"):
        assert flag.lower() in cookie.lower()
    body = response.json()
    assert body["patients"] == ["p-1"] and body["scopes"] == ["clinician"]
    assert body["csrf_header"] == CSRF_HEADER and body["csrf_token"] not in cookie


def test_cookie_is_not_secure_only_on_loopback_http_in_dev_mode(
    make_web_app: Callable[..., Any],
    token_auth: Callable[..., Any],
    new_token: Callable[[Any], str],
) -> None:
    token = new_token(token_auth())
    app = make_web_app(dev_mode=True)
    # the test client's server address is "testserver": not loopback, still Secure
    with TestClient(app) as client:
        response = client.post("/v1/session", headers={"Authorization": f"Bearer {token}"})
    assert "secure" in response.headers["set-cookie"].lower()


def test_cookie_and_csrf_header_authenticate_like_the_token(
    make_web_app: Callable[..., Any],
    token_auth: Callable[..., Any],
    new_token: Callable[[Any], str],
) -> None:
    with TestClient(make_web_app(), base_url="https://testserver") as client:
        session = login(client, new_token(token_auth(patient="p-1")))
        case = {"case_id": "c1", "patient_id": "p-1", "notes": "fever and cough"}
        answer = client.post(
            "/v1/diagnose", json=case, headers={CSRF_HEADER: session["csrf_token"]}
        )
        assert answer.status_code == 200, answer.text
        assert client.get("/v1/cases").status_code == 401  # cookie alone: refused
        refused = client.get("/v1/cases", headers={CSRF_HEADER: "guess"})
        assert refused.status_code == 401
        assert refused.json()["error"]["what"] == "session not valid"
        listed = client.get("/v1/cases", headers={CSRF_HEADER: session["csrf_token"]})
        assert [i["id"] for i in listed.json()["items"]] == [answer.json()["stored"]["case_id"]]
        other = {"case_id": "c2", "patient_id": "p-2", "notes": "rash"}  # not in context
        denied = client.post(
            "/v1/diagnose", json=other, headers={CSRF_HEADER: session["csrf_token"]}
        )
        assert denied.status_code == 403


def test_a_session_cannot_renew_itself(
    make_web_app: Callable[..., Any],
    token_auth: Callable[..., Any],
    new_token: Callable[[Any], str],
) -> None:
    with TestClient(make_web_app(), base_url="https://testserver") as client:
        session = login(client, new_token(token_auth()))
        again = client.post("/v1/session", headers={CSRF_HEADER: session["csrf_token"]})
    assert again.status_code == 401
    assert again.json()["error"]["what"] == "bearer token required"


def test_logout_ends_the_session_and_clears_the_cookie(
    make_web_app: Callable[..., Any],
    token_auth: Callable[..., Any],
    new_token: Callable[[Any], str],
) -> None:
    with TestClient(make_web_app(), base_url="https://testserver") as client:
        session = login(client, new_token(token_auth()))
        cookie = client.cookies[COOKIE_NAME]
        headers = {CSRF_HEADER: session["csrf_token"]}
        out = client.delete("/v1/session", headers=headers)
        assert out.status_code == 204
        assert (
            'dxkit_session=""' in out.headers["set-cookie"]
            or "Max-Age=0" in out.headers["set-cookie"]
        )
        client.cookies.set(COOKIE_NAME, cookie)  # a copy kept by an attacker is dead too
        assert client.get("/v1/cases", headers=headers).status_code == 401


def test_cookie_requests_are_audited_under_the_clinician(
    make_web_app: Callable[..., Any],
    token_auth: Callable[..., Any],
    new_token: Callable[[Any], str],
    web_secret: str,
    tmp_path: Path,
) -> None:
    with TestClient(make_web_app(), base_url="https://testserver") as client:
        session = login(client, new_token(token_auth(subject="dr-web")))
        client.get("/v1/dashboard", headers={CSRF_HEADER: session["csrf_token"]})
    engine = create_engine(f"sqlite:///{tmp_path / 'web.sqlite3'}")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT endpoint, actor_key FROM audit_log")).all()
    engine.dispose()
    actor = pseudonym("dr-web", web_secret)
    assert ("/v1/session", actor) in rows and ("/v1/dashboard", actor) in rows
