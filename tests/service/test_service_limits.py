"""The body limit: 413 by Content-Length, and for chunked bodies counted while streaming."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from dxkit.service.app import create_app
from dxkit.service.auth import Authenticator
from dxkit.service.settings import ServiceSettings

LIMIT = 4096


@pytest.fixture(scope="module")
def app(
    tmp_path_factory: pytest.TempPathFactory, make_authenticator: Callable[[], Authenticator]
) -> FastAPI:
    """An app with a small limit and an echo route; its model never loads (not needed)."""
    root = tmp_path_factory.mktemp("svc-limits")
    settings = ServiceSettings(
        database_url=f"sqlite:///{root / 'db.sqlite3'}",
        model_dir=root / "missing",
        max_body_bytes=LIMIT,
    )
    service = create_app(settings, authenticator=make_authenticator())

    @service.post("/echo-size")
    async def echo_size(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    return service


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def chunks(n: int, size: int = 1024) -> Iterator[bytes]:
    for _ in range(n):
        yield b"x" * size


def assert_413(response: httpx.Response) -> None:
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["what"] == "request body too large"
    assert error["expected"] == f"at most {LIMIT} bytes"


def test_body_at_the_limit_passes_whole(client: TestClient) -> None:
    response = client.post("/echo-size", content=b"x" * LIMIT)
    assert response.status_code == 200
    assert response.json() == {"size": LIMIT}


def test_body_over_the_limit_is_413(client: TestClient) -> None:
    response = client.post("/echo-size", content=b"x" * (LIMIT + 1))
    assert_413(response)
    assert "Content-Length" in response.json()["error"]["found"]


def test_diagnose_route_is_limited_too(client: TestClient) -> None:
    body = b'{"case_id": "big", "notes": "' + b"a" * (2 * LIMIT) + b'"}'
    response = client.post(
        "/v1/diagnose", content=body, headers={"Content-Type": "application/json"}
    )
    assert_413(response)


def test_chunked_body_without_content_length_is_413(client: TestClient) -> None:
    request = client.build_request("POST", "/echo-size", content=chunks(8))
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    response = client.send(request)
    assert_413(response)
    assert response.json()["error"]["found"] == "a streamed body over the limit"


def test_small_chunked_body_passes(client: TestClient) -> None:
    response = client.post("/echo-size", content=chunks(2))
    assert response.json() == {"size": 2048}


def test_chunked_body_is_cut_off_while_streaming_over_real_http(app: FastAPI) -> None:
    """Over a socket the chunks arrive one by one: 413 without reading the whole body."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    sent = 0

    def slow_chunks() -> Iterator[bytes]:
        nonlocal sent
        for chunk in chunks(64):
            sent += 1
            yield chunk
            time.sleep(0.005)

    try:
        deadline = time.monotonic() + 15
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            try:
                response = http.post("/echo-size", content=slow_chunks())
            except httpx.TransportError:  # the server may close before the upload ends
                response = None
            if response is not None:
                assert_413(response)
            assert http.get("/healthz").status_code == 200  # the server is unharmed
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert sent < 64, "the whole body was read before answering"
