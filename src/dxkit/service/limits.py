"""Request body limit: anything over ``max_body_bytes`` is refused with 413.

Why a middleware that reads the body itself: a client can leave out ``Content-Length``
and stream chunks, so checking the header alone lets any size through, and the JSON
parser would buffer all of it first. Here the bytes are counted as they arrive and
reading stops at the first byte over the limit; the body that passes is handed on as
it was received.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dxkit.service.errors import ErrorDetail, error_response


class BodyTooLarge(Exception):
    """The body grew past the limit while it was read."""


class BodyLimitMiddleware:
    """Pure ASGI middleware (no ``BaseHTTPMiddleware``: it would buffer and copy bodies)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._refuse(scope, receive, send, f"Content-Length {declared}")
            return
        try:
            body, disconnected = await self._read(receive)
        except BodyTooLarge:
            await self._refuse(scope, receive, send, "a streamed body over the limit")
            return
        await self.app(scope, _replay(body, disconnected, receive), send)

    async def _read(self, receive: Receive) -> tuple[bytes, bool]:
        """The whole body (at most ``max_body_bytes``) and whether the client left."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks), True
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), False

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, found: str) -> None:
        detail = ErrorDetail(
            what="request body too large",
            expected=f"at most {self.max_body_bytes} bytes",
            found=found,
            fix="send one case per request, without attachments",
        )
        # Connection: close, since the unread rest of the body cannot be left on the socket.
        response = error_response(413, detail, headers={"Connection": "close"})
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server rejects a malformed header before we see it
    return None


def _replay(body: bytes, disconnected: bool, receive: Receive) -> Receive:
    """A ``receive`` that hands out the buffered body once, then waits on the client."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if disconnected:
            return {"type": "http.disconnect"}
        return await receive()

    return replay
