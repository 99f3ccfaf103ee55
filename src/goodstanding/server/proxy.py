"""The OpenAI-compatible API: ``/v1/*`` requests become Calls and go through the pipeline."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing

from goodstanding import metrics
from goodstanding.call import Call
from goodstanding.errors import (
    EndpointNotAllowed,
    GatewayError,
    HeadersTooLarge,
    InternalError,
    NotFound,
)
from goodstanding.gateway import Gateway
from goodstanding.ops.logs import bind
from goodstanding.pipeline import Result
from goodstanding.server.bounds import check_json_depth, checked_path, forward_query
from goodstanding.server.transport import (
    Receive,
    Scope,
    Send,
    TrustedProxies,
    encode_headers,
    header_dict,
    read_body,
    request_id,
    send_bytes,
    send_error,
)
from goodstanding.upstream import stream_error

log = logging.getLogger("goodstanding.server")

ENDPOINTS = {
    ("POST", "/v1/chat/completions"): "chat.completions",
    ("POST", "/v1/responses"): "responses",
    ("POST", "/v1/embeddings"): "embeddings",
    ("POST", "/v1/moderations"): "moderations",
    ("POST", "/v1/images/generations"): "images.generations",
    ("GET", "/v1/models"): "models",
}


# raw paths that need no checking: exactly the known endpoints, nothing escaped
_PLAIN_KNOWN = frozenset(path.encode() for _, path in ENDPOINTS)


def endpoint_for(method: str, path: str, allowed: tuple[str, ...]) -> str:
    name = ENDPOINTS.get((method, path))
    if name:
        return name
    if method == "GET" and path.startswith("/v1/models/") and path.count("/") == 3:
        return "models"
    if any(path == p or path.startswith(p.rstrip("/") + "/") for p in allowed):
        return "other"
    if any(path == known or path.startswith(known + "/") for _, known in ENDPOINTS):
        raise NotFound(f"{method} is not supported on {path}.")
    raise EndpointNotAllowed(
        f"The endpoint {path} is not allowed through this gateway.", reasons=("endpoint_not_allowed",)
    )


class ProxyHandler:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        settings = gateway.settings
        self.proxies = TrustedProxies(settings.server.trusted_proxies)
        self.max_body = settings.server.max_body_bytes
        self.max_depth = settings.server.max_json_depth
        self.max_headers = settings.server.max_header_count
        self.allowed = settings.upstream.allowed_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = request_id()
        method, path = scope["method"], scope["path"]
        peer = scope["client"][0] if scope.get("client") else "unknown"
        call = Call(rid, method, path, "unknown", {}, peer)
        bind(call)  # this request's log lines name it
        in_flight = metrics.IN_FLIGHT.values
        in_flight[()] += 1
        try:
            await self._serve(call, scope, receive, send)
        finally:
            in_flight[()] -= 1

    async def _serve(self, call: Call, scope: Scope, receive: Receive, send: Send) -> None:
        rid, method, path = call.request_id, call.method, call.path
        base = {"x-request-id": rid}
        pipeline = self.gateway.pipeline
        try:
            if len(scope["headers"]) > self.max_headers:  # server/protocol.py bounds it first
                raise HeadersTooLarge("The request has too many headers.")
            call.headers = headers = header_dict(scope)  # 400 when a value is not UTF-8
            call.client_ip = self.proxies.client_ip(scope, headers)
            raw_path = scope.get("raw_path")
            if raw_path not in _PLAIN_KNOWN:
                path = checked_path(path, raw_path)
            call.endpoint = endpoint_for(method, path, self.allowed)
            if scope.get("query_string"):
                call.path = path + forward_query(call.endpoint, scope["query_string"])
            call.raw_body = body = await read_body(receive, headers, self.max_body)
            if body:
                check_json_depth(body, self.max_depth)
        except Exception as exc:  # noqa: BLE001 - refusals and bugs (logged) leave a record
            error = await pipeline.fail(call, exc)
            await send_error(send, error, base)
            return
        try:
            result = await pipeline.run(call)
        except GatewayError as error:
            await send_error(send, error, {**call.response_headers, **base})
            return
        await self._respond(call, result, base, receive, send)

    async def _respond(
        self, call: Call, result: Result, base: dict[str, str], receive: Receive, send: Send
    ) -> None:
        headers = {**result.headers, **call.response_headers, **base}
        if result.stream is None:
            content_type = headers.pop("content-type", "application/json").encode("latin-1")
            await send_bytes(send, result.status, result.body, headers, content_type)
            return
        headers.setdefault("content-type", "text/event-stream; charset=utf-8")
        headers["cache-control"] = "no-cache"
        try:
            await send({"type": "http.response.start", "status": result.status,
                        "headers": encode_headers(headers)})
        except BaseException as exc:
            # the stream never started, so its own ending (which finishes the call) never runs
            await self.gateway.pipeline.finish(call, self.gateway.pipeline.internal(call, exc))
            raise
        await pump(result.stream, receive, send, call)


async def pump(stream: AsyncIterator[bytes], receive: Receive, send: Send, call: Call) -> None:
    """Send a stream as it comes; if the client goes away, stop (which cancels upstream).

    The stream finishes its call however it ends (streaming.guard_stream); an error after the
    response started can only be told in the stream: an error event, then a clean end.
    """
    task = asyncio.current_task()
    gone = asyncio.Event()

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()
        if task is not None:
            task.cancel()

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        async with aclosing(stream):
            async for chunk in stream:
                if "first_chunk_at" not in call.notes:  # time to first token (metrics)
                    call.notes["first_chunk_at"] = time.perf_counter()
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except asyncio.CancelledError:
        if not gone.is_set():
            raise  # a real shutdown, not our own disconnect handling
        log.info("client disconnected mid-stream; upstream request cancelled")
    except Exception as exc:  # noqa: BLE001 - finished, recorded and logged by the stream
        error = exc if isinstance(exc, GatewayError) else InternalError("The stream failed.")
        log.warning("stream of %s ended by %s", call.request_id, error.code)
        await send({"type": "http.response.body", "more_body": False,
                    "body": stream_error(call, error.message, error.code)})
    finally:
        watcher.cancel()
