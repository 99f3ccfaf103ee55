"""The OpenAI-compatible API: ``/v1/*`` requests become Calls and go through the pipeline."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing

from goodstanding.call import Call
from goodstanding.errors import EndpointNotAllowed, GatewayError, NotFound
from goodstanding.gateway import Gateway
from goodstanding.pipeline import Result
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

log = logging.getLogger("goodstanding.server")

ENDPOINTS = {
    ("POST", "/v1/chat/completions"): "chat.completions",
    ("POST", "/v1/responses"): "responses",
    ("POST", "/v1/embeddings"): "embeddings",
    ("POST", "/v1/moderations"): "moderations",
    ("POST", "/v1/images/generations"): "images.generations",
    ("GET", "/v1/models"): "models",
}


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
        self.allowed = settings.upstream.allowed_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = request_id()
        method, path = scope["method"], scope["path"]
        call = Call(rid, method, path, "unknown", {}, self.proxies.client_ip(scope, {}))
        base = {"x-request-id": rid}
        pipeline = self.gateway.pipeline
        try:
            call.headers = headers = header_dict(scope)  # 400 when a value is not UTF-8
            call.client_ip = self.proxies.client_ip(scope, headers)
            call.endpoint = endpoint_for(method, path, self.allowed)
            if scope.get("query_string"):
                call.path = f"{path}?{scope['query_string'].decode('latin-1')}"
            call.raw_body = await read_body(receive, headers, self.max_body)
        except GatewayError as error:
            await pipeline.finish(call, error)  # still leaves its audit record
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
        await send({"type": "http.response.start", "status": result.status,
                    "headers": encode_headers(headers)})
        await pump(result.stream, receive, send)


async def pump(stream: AsyncIterator[bytes], receive: Receive, send: Send) -> None:
    """Send a stream as it comes; if the client goes away, stop (which cancels upstream)."""
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
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except asyncio.CancelledError:
        if not gone.is_set():
            raise  # a real shutdown, not our own disconnect handling
        log.info("client disconnected mid-stream; upstream request cancelled")
    finally:
        watcher.cancel()
