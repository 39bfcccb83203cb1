"""The chat client against a real server: retries, deadlines, circuit breaker, refusals."""

from __future__ import annotations

import json
import socket
import time

import pytest
from tiny_llm_server import ServerThread, free_port, make_client

from dxkit.cases.schema import Case
from dxkit.errors import InputError
from dxkit.models.llm import LLMClient, LLMSettings, LLMUnavailable, Message, case_message


def test_plain_chat_returns_the_models_text(server: ServerThread, client: LLMClient) -> None:
    reply = client.chat([Message(role="user", content="hello")])
    assert reply.content and not reply.schema_enforced
    sent = json.loads(server.state.bodies[-1])
    assert sent["model"] == "tiny-random-gpt2" and "response_format" not in sent


def test_json_schema_is_enforced_by_the_server(server: ServerThread, client: LLMClient) -> None:
    schema = {
        "type": "object",
        "properties": {"pick": {"type": "string", "enum": ["alpha", "beta"]}},
        "required": ["pick"],
    }
    reply = client.chat([Message(role="user", content="choose")], json_schema=schema)
    assert reply.schema_enforced
    assert json.loads(reply.content)["pick"] in {"alpha", "beta"}


def test_server_without_response_format_is_asked_again_plainly(
    server: ServerThread, client: LLMClient
) -> None:
    server.state.reject_response_format = True
    schema = {"type": "object", "properties": {}, "required": []}
    reply = client.chat([Message(role="user", content="x")], json_schema=schema)
    assert not reply.schema_enforced
    assert len(server.state.bodies) == 2  # one rejected with 400, one plain
    client.chat([Message(role="user", content="x")], json_schema=schema)
    assert "response_format" not in json.loads(server.state.bodies[-1])  # remembered


def test_message_from_a_raw_case_is_refused_before_sending(
    server: ServerThread, client: LLMClient
) -> None:
    raw = Case(case_id="c1", notes="anything")
    with pytest.raises(InputError, match="not marked deidentified"):
        client.chat([case_message(raw, "anything")])
    assert server.state.bodies == []


def test_wrong_key_is_an_auth_failure_without_retries(server: ServerThread) -> None:
    server.state.api_key = "right"
    client = make_client(server.url, api_key="wrong", backoff_s=0.01)
    with pytest.raises(LLMUnavailable, match=r"\(auth\).*HTTP 401.*DXKIT_LLM_API_KEY"):
        client.chat([Message(role="user", content="x")])
    assert len(server.state.bodies) == 1
    assert not client.breaker.is_open


def test_non_openai_endpoints_are_named(server: ServerThread) -> None:
    for url, found in (
        (server.root + "/nothing/v1", "HTTP 404"),
        (server.root + "/html/v1", "text/html"),
    ):
        client = make_client(url)
        with pytest.raises(LLMUnavailable, match=f"not_openai.*{found}"):
            client.chat([Message(role="user", content="x")])


def test_timeout_respects_the_deadline(server: ServerThread) -> None:
    server.state.delay_s = 3.0
    client = make_client(server.url, timeout_s=0.5, backoff_s=0.01)
    started = time.monotonic()
    with pytest.raises(LLMUnavailable, match=r"\(timeout\).*within 0.5s"):
        client.chat([Message(role="user", content="x")])
    assert time.monotonic() - started < 1.5


def test_dead_endpoint_costs_one_timeout_then_fails_fast() -> None:
    with socket.socket() as blackhole:  # accepts connections, never answers
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(8)
        url = f"http://127.0.0.1:{blackhole.getsockname()[1]}/v1"
        client = make_client(url, timeout_s=0.4, cooldown_s=30.0)
        started = time.monotonic()
        with pytest.raises(LLMUnavailable, match="timeout"):
            client.chat([Message(role="user", content="x")])
        assert 0.3 < time.monotonic() - started < 1.5
        started = time.monotonic()
        for _ in range(5):
            with pytest.raises(LLMUnavailable, match="circuit_open"):
                client.chat([Message(role="user", content="x")])
        assert time.monotonic() - started < 0.1


def test_closed_port_retries_within_bounds_then_opens_the_circuit() -> None:
    client = make_client(f"http://127.0.0.1:{free_port()}/v1", backoff_s=0.01, max_retries=2)
    with pytest.raises(LLMUnavailable, match="unreachable"):
        client.chat([Message(role="user", content="x")])
    assert client.breaker.is_open
    with pytest.raises(LLMUnavailable, match="circuit_open"):
        client.chat([Message(role="user", content="x")])


def test_circuit_half_opens_after_the_cool_down(server: ServerThread) -> None:
    client = make_client(server.url, cooldown_s=0.2)
    client.breaker.record(ok=False)
    with pytest.raises(LLMUnavailable, match="circuit_open"):
        client.chat([Message(role="user", content="x")])
    time.sleep(0.25)
    assert client.chat([Message(role="user", content="x")]).content
    assert not client.breaker.is_open


def test_settings_from_env_and_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DXKIT_LLM_BASE_URL", raising=False)
    assert LLMSettings.from_env() is None
    monkeypatch.setenv("DXKIT_LLM_BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("DXKIT_LLM_MODEL", "m")
    monkeypatch.setenv("DXKIT_LLM_API_KEY", "k")
    settings = LLMSettings.from_env()
    assert settings is not None and (settings.model, settings.api_key) == ("m", "k")
    with pytest.raises(InputError, match="DXKIT_LLM_BASE_URL: expected an http"):
        LLMSettings(base_url="127.0.0.1:8000", model="m")
