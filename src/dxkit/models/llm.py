"""A client for OpenAI-compatible chat endpoints (vLLM, llama.cpp, Ollama, TGI).

Why this shape: a hospital's local LLM is a shared, sometimes overloaded service. Each
call has one deadline (``timeout_s``) that covers its retries, so nothing waits past
it; transient failures (429, 5xx, transport errors) are retried with exponential backoff
and jitter while the deadline allows; and a circuit breaker remembers a dead endpoint,
so a batch of cases pays one timeout and then fails fast until the cool-down ends.

Privacy: every message carries whether its text was built from a de-identified case
(:func:`case_message`); the client refuses to send a message that was not, before any
network traffic. Errors never quote message text.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from dxkit.cases.schema import Case
from dxkit.errors import DxkitError, InputError

FailureKind = Literal[
    "timeout", "unreachable", "circuit_open", "auth", "not_openai", "server", "bad_request"
]


class LLMUnavailable(DxkitError):
    """The endpoint gave no usable answer; ``kind`` says why (callers fall back on it)."""

    def __init__(self, kind: FailureKind, found: str, fix: str) -> None:
        self.kind = kind
        super().__init__(
            f"LLM endpoint ({kind})",
            expected="an OpenAI-compatible /v1/chat/completions answer",
            found=found,
            fix=fix,
        )


@dataclass(frozen=True)
class Message:
    """One chat message; ``deidentified`` is False when built from a raw case."""

    role: Literal["system", "user", "assistant"]
    content: str
    deidentified: bool = True


def case_message(case: Case, text: str, role: Literal["user"] = "user") -> Message:
    """A message whose ``text`` was rendered from ``case``; marked by the case's state.

    The client checks the mark, so forgetting to de-identify fails loudly, not silently.
    """
    return Message(role=role, content=text, deidentified=case.deidentified)


@dataclass(frozen=True)
class LLMSettings:
    """Where the endpoint is and how patient to be with it (read from the environment)."""

    base_url: str
    model: str
    api_key: str = ""
    timeout_s: float = 30.0  # one deadline per call, retries included
    max_retries: int = 2
    backoff_s: float = 0.5  # first backoff; doubles per retry, with full jitter
    breaker_failures: int = 1  # consecutive failed calls that open the circuit
    cooldown_s: float = 60.0  # how long an open circuit fails fast
    temperature: float = 0.0
    max_tokens: int = 512

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise InputError(
                "DXKIT_LLM_BASE_URL",
                expected="an http(s) URL such as http://127.0.0.1:8000/v1",
                found=repr(self.base_url[:80]),
                fix="set DXKIT_LLM_BASE_URL to the server's /v1 address",
            )
        if self.timeout_s <= 0 or self.max_retries < 0 or self.breaker_failures < 1:
            raise InputError(
                "LLM settings",
                expected="timeout_s > 0, max_retries >= 0, breaker_failures >= 1",
                found=f"{self.timeout_s}, {self.max_retries}, {self.breaker_failures}",
                fix="correct DXKIT_LLM_TIMEOUT_S / the settings passed in",
            )

    @classmethod
    def from_env(cls) -> LLMSettings | None:
        """Settings from ``DXKIT_LLM_*``, or None when no endpoint is configured."""
        base = os.environ.get("DXKIT_LLM_BASE_URL", "").strip()
        if not base:
            return None
        timeout = os.environ.get("DXKIT_LLM_TIMEOUT_S", "30")
        try:
            timeout_s = float(timeout)
        except ValueError:
            raise InputError(
                "DXKIT_LLM_TIMEOUT_S", expected="seconds", found=repr(timeout), fix="e.g. 30"
            ) from None
        return cls(
            base_url=base,
            model=os.environ.get("DXKIT_LLM_MODEL", "default").strip() or "default",
            api_key=os.environ.get("DXKIT_LLM_API_KEY", ""),
            timeout_s=timeout_s,
        )


@dataclass
class CircuitBreaker:
    """Closed -> open after ``failures`` consecutive failures -> half-open after cool-down."""

    failures: int = 1
    cooldown_s: float = 60.0
    _count: int = 0
    _open_until: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check(self) -> None:
        """Raise at once while open; let one trial call through after the cool-down."""
        with self._lock:
            left = self._open_until - time.monotonic()
            if self._count >= self.failures and left > 0:
                raise LLMUnavailable(
                    "circuit_open",
                    f"the endpoint failed recently; retrying in {left:.0f}s",
                    "wait, or check that the LLM server is up",
                )

    def record(self, ok: bool) -> None:
        """Count a call's outcome; a failure past the threshold (re)opens the circuit."""
        with self._lock:
            if ok:
                self._count = 0
                return
            self._count += 1
            if self._count >= self.failures:
                self._open_until = time.monotonic() + self.cooldown_s

    @property
    def is_open(self) -> bool:
        """Whether calls fail fast now."""
        return self._count >= self.failures and time.monotonic() < self._open_until


@dataclass(frozen=True)
class ChatResult:
    """The assistant's text, whether the JSON schema was enforced, and the latency."""

    content: str
    schema_enforced: bool
    latency_s: float


class LLMClient:
    """Chat completions with one deadline per call, retries and a circuit breaker."""

    def __init__(self, settings: LLMSettings, transport: httpx.BaseTransport | None = None):
        self.settings = settings
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.cooldown_s)
        self._schema_supported: bool | None = None  # learnt from the first 400 on it
        headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        self._http = httpx.Client(
            base_url=settings.base_url.rstrip("/") + "/", headers=headers, transport=transport
        )

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    def chat(
        self, messages: Sequence[Message], *, json_schema: dict[str, Any] | None = None
    ) -> ChatResult:
        """The assistant's reply; raises :class:`LLMUnavailable` on any failure.

        With ``json_schema`` the server is asked for constrained decoding
        (``response_format`` json_schema); a server that rejects the field is asked again
        without it (and not asked again this session), and the caller validates.
        """
        for index, message in enumerate(messages):
            if not message.deidentified:
                raise InputError(
                    f"messages[{index}]",
                    expected="text built from de-identified cases only",
                    found="a message built from a case not marked deidentified",
                    fix="run dxkit.deid.cases.deidentify_cases on the case first",
                )
        self.breaker.check()
        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "temperature": self.settings.temperature,
            "max_tokens": self.settings.max_tokens,
        }
        enforce = json_schema is not None and self._schema_supported is not False
        if enforce:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "dxkit", "schema": json_schema, "strict": True},
            }
        started = time.monotonic()
        try:
            data = self._post(body, started)
        except LLMUnavailable as exc:
            if enforce and exc.kind == "bad_request":
                self._schema_supported = False
                body.pop("response_format")
                data = self._post(body, started)
                enforce = False
            else:
                raise
        if enforce:
            self._schema_supported = True
        return ChatResult(_content(data), enforce, time.monotonic() - started)

    def _post(self, body: dict[str, Any], started: float) -> dict[str, Any]:
        """POST with retries inside the call's deadline; feeds the circuit breaker."""
        try:
            data = self._post_with_retries(body, started)
        except LLMUnavailable as exc:
            if exc.kind in ("timeout", "unreachable", "server"):
                self.breaker.record(ok=False)
            raise
        self.breaker.record(ok=True)
        return data

    def _post_with_retries(self, body: dict[str, Any], started: float) -> dict[str, Any]:
        deadline = started + self.settings.timeout_s
        attempt = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _timeout(self.settings.timeout_s)
            try:
                response = self._http.post("chat/completions", json=body, timeout=left)
            except httpx.TimeoutException:
                raise _timeout(self.settings.timeout_s) from None
            except httpx.TransportError as exc:
                failure = LLMUnavailable(
                    "unreachable",
                    f"no connection ({type(exc).__name__})",
                    "check DXKIT_LLM_BASE_URL and that the server is running",
                )
                retry_after = None
            else:
                if response.status_code < 400:
                    return _json_body(response)
                failure, retry_after = _http_failure(response)
                if failure.kind not in ("server",) and response.status_code != 429:
                    raise failure
            attempt += 1
            pause = retry_after or random.uniform(0, self.settings.backoff_s * 2 ** (attempt - 1))
            if attempt > self.settings.max_retries or time.monotonic() + pause >= deadline:
                raise failure
            time.sleep(pause)


def _timeout(seconds: float) -> LLMUnavailable:
    return LLMUnavailable(
        "timeout",
        f"no answer within {seconds:g}s",
        "raise DXKIT_LLM_TIMEOUT_S or use a faster model",
    )


def _http_failure(response: httpx.Response) -> tuple[LLMUnavailable, float | None]:
    status = response.status_code
    if status in (401, 403):
        return LLMUnavailable(
            "auth", f"HTTP {status}", "set DXKIT_LLM_API_KEY to a key the server accepts"
        ), None
    if status == 404:
        return LLMUnavailable(
            "not_openai",
            "HTTP 404 at chat/completions",
            "point DXKIT_LLM_BASE_URL at the server's /v1 prefix",
        ), None
    if status == 429 or status >= 500:
        retry_after = response.headers.get("retry-after", "")
        wait = float(retry_after) if retry_after.replace(".", "", 1).isdigit() else None
        return LLMUnavailable("server", f"HTTP {status}", "retry later"), wait
    return LLMUnavailable(
        "bad_request", f"HTTP {status}", "check the model name (DXKIT_LLM_MODEL)"
    ), None


def _json_body(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        raise LLMUnavailable(
            "not_openai",
            f"a {kind} body instead of a JSON object",
            "point DXKIT_LLM_BASE_URL at an OpenAI-compatible server's /v1 prefix",
        )
    return data


def _content(data: dict[str, Any]) -> str:
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        content = None
    if not isinstance(content, str):
        raise LLMUnavailable(
            "not_openai",
            "a JSON body without choices[0].message.content",
            "use an OpenAI-compatible chat completions endpoint",
        )
    return content
