"""The way into the core, shared by both shells (the HTTP server and library mode).

A shell turns its own request (an ASGI scope, an SDK's ``httpx2.Request``) into a ``Call``;
everything the core decides about that request before the pipeline runs lives here, once:

- **route**: which OpenAI endpoint a method and path name (``endpoint_for``, over the routes
  ``endpoints/`` declares), the path checked
  to be one plain path (``bounds.checked_path``) and the query parameters that may go on;
- **body**: its size against ``server.max_body_bytes`` and its JSON nesting depth;
- **enter**: a request refused here still runs the finishers and leaves its audit record
  (``Pipeline.fail``), exactly like one refused by a check;
- **stream_failure**: what a stream that already started says when it fails (an error event
  the SDKs raise), however the shell delivers the bytes.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from goodstanding.bounds import check_json_depth, checked_path, forward_query
from goodstanding.endpoints import OTHER, ROUTES, names_a_model
from goodstanding.endpoints.models import MODELS
from goodstanding.errors import (
    EndpointNotAllowed,
    GatewayError,
    InternalError,
    InvalidRequest,
    NotFound,
    RequestTooLarge,
)
from goodstanding.stream.endings import stream_error

if TYPE_CHECKING:
    from goodstanding.call import Call, Result
    from goodstanding.pipeline import Pipeline
    from goodstanding.settings import Settings

log = logging.getLogger("goodstanding.door")

# raw paths that need no checking: exactly the known endpoints, nothing escaped
PLAIN_KNOWN = frozenset(path.encode() for _, path in ROUTES)


def request_id() -> str:
    """A request id unique across processes: a random per-process prefix and a counter.

    Ids identify, they are not secrets; a counter saves a getrandom() system call per request.
    """
    return f"req_{_ID_PREFIX}{next(_ID_COUNTER):08x}"


def _new_id_prefix() -> None:
    global _ID_PREFIX, _ID_COUNTER
    _ID_PREFIX, _ID_COUNTER = os.urandom(8).hex(), itertools.count()


_ID_PREFIX, _ID_COUNTER = "", itertools.count()
_new_id_prefix()
os.register_at_fork(after_in_child=_new_id_prefix)  # a forked worker gets its own prefix


def endpoint_for(method: str, path: str, allowed: tuple[str, ...]) -> str:
    name = ROUTES.get((method, path))
    if name:
        return name
    if names_a_model(method, path):
        return MODELS.name
    if any(path == p or path.startswith(p.rstrip("/") + "/") for p in allowed):
        return OTHER.name
    if any(path == known or path.startswith(known + "/") for _, known in ROUTES):
        raise NotFound(f"{method} is not supported on {path}.")
    raise EndpointNotAllowed(
        f"The endpoint {path} is not allowed through this gateway.", reasons=("endpoint_not_allowed",)
    )


def too_large(limit: int) -> RequestTooLarge:
    return RequestTooLarge(f"The request body is larger than the limit of {limit} bytes.")


def check_declared_length(headers: dict[str, str], limit: int) -> None:
    """Refuse a body by its ``Content-Length`` before reading it."""
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InvalidRequest("Invalid Content-Length header.")
        if int(declared) > limit:
            raise too_large(limit)


class Door:
    """The request bounds of one gateway, read once from its settings."""

    def __init__(self, settings: Settings) -> None:
        self.max_body = settings.server.max_body_bytes
        self.max_depth = settings.server.max_json_depth
        self.allowed = settings.upstream.allowed_paths

    def route(self, call: Call, path: str, raw_path: bytes | None, query: bytes) -> None:
        """Name the call's endpoint and set the path (and query) that goes upstream."""
        if raw_path not in PLAIN_KNOWN:
            path = checked_path(path, raw_path)
        call.endpoint = endpoint_for(call.method, path, self.allowed)
        call.path = path + forward_query(call.endpoint, query) if query else path

    def body(self, call: Call, body: bytes) -> None:
        """Bound a body that was read whole (the server bounds it while reading, too)."""
        if len(body) > self.max_body:
            raise too_large(self.max_body)
        call.raw_body = body
        if body:
            check_json_depth(body, self.max_depth)


async def enter(pipeline: Pipeline, call: Call, prepare: Callable[[], Awaitable[None]]) -> Result:
    """Prepare the call (route, read, bound), then run it through the pipeline.

    Either way a refusal is a ``GatewayError`` for the shell to render, and the call has its
    record: one refused while being prepared (or a bug there) is finished here.
    """
    try:
        await prepare()
    except Exception as exc:  # noqa: BLE001 - refusals and bugs (logged) leave a record
        raise await pipeline.fail(call, exc) from None
    return await pipeline.run(call)


CLIENT_DISCONNECTED = "client_disconnected"


def client_left(call: Call) -> None:
    """The client stopped reading a stream before its end: its record says so (its status
    stays the one it was sent; the answer is incomplete, its usage unknown)."""
    call.reasons.append(CLIENT_DISCONNECTED)


def stream_failure(call: Call, exc: Exception) -> bytes:
    """The error event that ends a stream which failed after it started (the SDKs raise it).

    The stream finished its call already (Pipeline.finish_stream); this only tells the client.
    """
    error = exc if isinstance(exc, GatewayError) else InternalError("The stream failed.")
    log.warning("stream of %s ended by %s", call.request_id, error.code)
    return stream_error(call, error.message, error.code)
