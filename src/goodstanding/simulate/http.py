"""The simulator's small HTTP layer: what a request is, what a reply is, and how both cross ASGI.

Handlers never touch ASGI: they take a `Request` and return a `Reply` (one JSON body) or a
`StreamReply` (server-sent events). `send_reply` is the one place that writes to the wire, so the
headers every answer carries (`x-request-id`, `x-goodstanding-simulated`) are added once.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

SIMULATED_HEADER = (b"x-goodstanding-simulated", b"true")


class Disconnect(Exception):
    """Raised by a stream to cut the connection without finishing the response (a fault)."""


class BadRequest(Exception):
    """A request the simulator refuses with a 400 envelope; the message is safe to return."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


@dataclass(slots=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any = None


@dataclass(slots=True)
class Reply:
    status: int
    body: Any  # JSON; bytes are sent as they are, with ``content_type``
    headers: dict[str, str] = field(default_factory=dict)
    content_type: bytes = b"application/json"


@dataclass(slots=True)
class StreamReply:
    events: AsyncIterator[bytes]
    headers: dict[str, str] = field(default_factory=dict)


def envelope(
    status: int,
    message: str,
    *,
    type: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """OpenAI's error envelope: all four keys, always (the SDKs read `code` and `type`)."""
    error = {"message": message, "type": type, "param": param, "code": code}
    return Reply(status, {"error": error}, headers or {})


def request_id() -> str:
    return "req_" + os.urandom(16).hex()


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event; `event:` lines are what the Responses API streams look like."""
    payload = b"data: " + orjson.dumps(data) + b"\n\n"
    return b"event: " + event.encode() + b"\n" + payload if event else payload


SSE_DONE = b"data: [DONE]\n\n"


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def parse_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest(
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)"
        ) from None


def _headers(extra: dict[str, str], content_type: bytes) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-type", content_type), SIMULATED_HEADER]
    if "x-request-id" not in extra:
        headers.append((b"x-request-id", request_id().encode()))
    headers.extend((k.encode(), v.encode()) for k, v in extra.items())
    return headers


async def send_reply(send: Send, receive: Receive, reply: Reply | StreamReply) -> str | None:
    """Send the reply; for a stream, say how it ended ("completed" or "abandoned")."""
    if isinstance(reply, StreamReply):
        return await _send_stream(send, receive, reply)
    body = reply.body if isinstance(reply.body, bytes) else orjson.dumps(reply.body)
    headers = _headers(reply.headers, reply.content_type)
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return None


async def _send_stream(send: Send, receive: Receive, reply: StreamReply) -> str:
    headers = _headers(reply.headers, b"text/event-stream; charset=utf-8")
    headers.append((b"cache-control", b"no-cache"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    # A client that hangs up must stop the stream: with a chunk delay a long answer would
    # otherwise keep a task sleeping long after nobody listens.
    gone = asyncio.ensure_future(_wait_disconnect(receive))
    try:
        async for chunk in reply.events:
            if gone.done():
                return "abandoned"
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return "completed"
    except Disconnect:
        return "disconnected"  # returning mid-response makes uvicorn close the connection
    finally:
        gone.cancel()
        await reply.events.aclose()  # type: ignore[attr-defined]


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
