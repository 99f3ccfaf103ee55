"""The OpenAI-compatible API: ``/v1/*`` requests become Calls and go through the pipeline."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing

from goodstanding import metrics
from goodstanding.call import Call, Result
from goodstanding.door import Door, client_left, enter, stream_failure
from goodstanding.errors import GatewayError, HeadersTooLarge
from goodstanding.gateway import Gateway
from goodstanding.ops.logs import bind
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


class ProxyHandler:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        settings = gateway.settings
        self.proxies = TrustedProxies(settings.server.trusted_proxies)
        self.door = Door(settings)
        self.max_headers = settings.server.max_header_count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = request_id()
        peer = scope["client"][0] if scope.get("client") else "unknown"
        call = Call(rid, scope["method"], scope["path"], "unknown", {}, peer)
        bind(call)  # this request's log lines name it
        in_flight = metrics.IN_FLIGHT.values
        in_flight[()] += 1
        try:
            await self._serve(call, scope, receive, send)
        finally:
            in_flight[()] -= 1

    async def _serve(self, call: Call, scope: Scope, receive: Receive, send: Send) -> None:
        base = {"x-request-id": call.request_id}

        async def prepare() -> None:
            if len(scope["headers"]) > self.max_headers:  # server/protocol.py bounds it first
                raise HeadersTooLarge("The request has too many headers.")
            call.headers = headers = header_dict(scope)  # 400 when a value is not UTF-8
            call.client_ip = self.proxies.client_ip(scope, headers)
            door = self.door
            door.route(call, scope["path"], scope.get("raw_path"), scope.get("query_string"))
            door.body(call, await read_body(receive, headers, door.max_body))

        try:
            result = await enter(self.gateway.pipeline, call, prepare)
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

    The stream finishes its call however it ends (Pipeline.finish_stream); an error after the
    response started can only be told in the stream: an error event, then a clean end.
    """
    task = asyncio.current_task()
    gone = asyncio.Event()

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        client_left(call)  # before the cancel ends the stream and writes its record
        gone.set()
        if task is not None:
            task.cancel()

    watcher = asyncio.get_running_loop().create_task(watch())
    upstream = call.upstream
    try:
        async with aclosing(stream):
            async for chunk in stream:
                if upstream.first_chunk_at is None:  # time to first token (metrics)
                    upstream.first_chunk_at = time.perf_counter()
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except asyncio.CancelledError:
        if not gone.is_set():
            raise  # a real shutdown, not our own disconnect handling
        log.info("client disconnected mid-stream; upstream request cancelled")
    except Exception as exc:  # noqa: BLE001 - finished, recorded and logged by the stream
        await send({"type": "http.response.body", "more_body": False,
                    "body": stream_failure(call, exc)})
    finally:
        watcher.cancel()
