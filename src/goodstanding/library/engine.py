"""The core in-process: one ``Gateway`` behind an HTTP transport for the official SDK.

The SDK builds its requests as usual; instead of a socket, ``Engine.handle`` turns each one
into a ``Call`` and runs it through the same door (``door.py``) and the same ``Pipeline`` as
the server, then answers with what the server would have sent: the upstream's status and body,
or the gateway's OpenAI error envelope (which the SDK raises as its own exception), or the
held-back stream (which the SDK parses into its own events).

The async transport runs the engine on the caller's event loop. The sync transport owns one
event-loop thread (``LoopThread``) on which the engine lives; it is stopped and joined at close.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import aclosing
from typing import Any, TypeVar

import httpx2
import orjson

from goodstanding.call import Call, VirtualKey
from goodstanding.door import Door, client_left, enter, request_id, stream_failure
from goodstanding.errors import GatewayError
from goodstanding.gateway import Gateway, require_runnable
from goodstanding.settings import Settings

T = TypeVar("T")

# the key an in-process caller speaks as when it does not give a goodstanding key: the
# application itself, trusted like any code in its own process (records: key_id "library")
LIBRARY_TENANT = "library"
LIBRARY_KEY = VirtualKey(id="library", name=LIBRARY_TENANT, tenant=LIBRARY_TENANT,
                         secret_hash="", created_at=0.0)
VIRTUAL_KEY_PREFIX = "gsk-"
CLIENT_IP = "127.0.0.1"  # the end user's address comes with X-End-User-IP, as for the server


class Engine:
    """One gateway, started on first use and closed once."""

    def __init__(self, settings: Settings) -> None:
        require_runnable(settings)
        self.gateway = Gateway.build(settings)
        self.door = Door(settings)
        self._starting: asyncio.Lock | None = None

    async def start(self) -> None:
        if self.gateway.started:
            return
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if not self.gateway.started:
                await self.gateway.start()

    async def close(self) -> None:
        if self.gateway.started:
            await self.gateway.close()

    async def handle(self, request: httpx2.Request, body: bytes) -> httpx2.Response:
        await self.start()
        rid = request_id()
        url = request.url
        headers = {name.lower(): value for name, value in request.headers.items()}
        call = Call(rid, request.method, url.path, "unknown", headers, CLIENT_IP)
        if not _virtual_key(headers):  # the SDK's api_key is the upstream key, not ours
            headers.pop("authorization", None)
            call.key = LIBRARY_KEY

        async def prepare() -> None:
            self.door.route(call, url.path, url.raw_path.partition(b"?")[0], url.query)
            self.door.body(call, body)

        base = {"x-request-id": rid}
        try:
            result = await enter(self.gateway.pipeline, call, prepare)
        except GatewayError as error:
            headers = {**call.response_headers, **base, **error.response_headers(),
                       "content-type": "application/json"}
            return httpx2.Response(error.status, headers=headers,
                                   content=orjson.dumps(error.body()))
        headers = {**result.headers, **call.response_headers, **base}
        if result.stream is None:
            return httpx2.Response(result.status, headers=headers, content=result.body)
        headers.setdefault("content-type", "text/event-stream; charset=utf-8")
        return httpx2.Response(result.status, headers=headers,
                               stream=EventStream(result.stream, call))


def _virtual_key(headers: dict[str, str]) -> bool:
    """Whether the caller gave a goodstanding key (checked by the auth check like the server's)."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and token.lstrip().startswith(VIRTUAL_KEY_PREFIX)


class EventStream(httpx2.AsyncByteStream):
    """A held-back stream; a failure after it started ends it with an error event."""

    def __init__(self, stream: AsyncIterator[bytes], call: Call) -> None:
        self.stream = stream
        self.call = call
        self.ended = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.stream:
                yield chunk
        except Exception as exc:  # noqa: BLE001 - finished, recorded and logged by the stream
            yield stream_failure(self.call, exc)
        self.ended = True

    async def aclose(self) -> None:
        if not self.ended:  # the client stopped reading: its record says so
            client_left(self.call)
        async with aclosing(self.stream):  # type: ignore[type-var]
            pass  # closing cancels the upstream request


class AsyncTransport(httpx2.AsyncBaseTransport):
    def __init__(self, settings: Settings) -> None:
        self.engine = Engine(settings)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await self.engine.handle(request, await request.aread())

    async def aclose(self) -> None:
        await self.engine.close()


class LoopThread:
    """One event loop in one daemon thread: the sync client's bridge to the async core."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="goodstanding-library",
                                       daemon=True)
        self.thread.start()

    def call(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        async def run() -> T:
            return await function(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result()

    def stop(self) -> None:
        if not self.thread.is_alive():
            return
        self.call(self.loop.shutdown_asyncgens)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


class SyncTransport(httpx2.BaseTransport):
    def __init__(self, settings: Settings) -> None:
        self.threads_before = set(threading.enumerate())
        self.bridge = LoopThread()
        try:
            self.engine = self.bridge.call(_open_engine, settings)
        except BaseException:
            self.bridge.stop()
            raise

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self.bridge.call(self.engine.handle, request, request.read())
        if isinstance(response.stream, EventStream):
            response.stream = SyncEventStream(response.stream, self.bridge)  # type: ignore[assignment]
        return response

    def close(self) -> None:
        try:
            if self.bridge.thread.is_alive():
                self.bridge.call(self.engine.close)
        finally:
            self.bridge.stop()
            _join_sqlite_workers(self.threads_before)


def _join_sqlite_workers(before: set[threading.Thread], timeout: float = 2.0) -> None:
    """Wait (bounded) for the SQLite connections' worker threads this client started: aiosqlite
    ends one just after its connection is closed, not before ``close`` returns, and a closed
    client must leave no thread behind (a loaded machine showed one still running)."""
    deadline = time.monotonic() + timeout
    for thread in set(threading.enumerate()) - before:
        if thread.name.endswith("(_connection_worker_thread)"):
            thread.join(max(0.0, deadline - time.monotonic()))


async def _open_engine(settings: Settings) -> Engine:
    """Build and start the engine on the loop it will live on (errors surface at once)."""
    engine = Engine(settings)
    await engine.start()
    return engine


_END = object()


class SyncEventStream(httpx2.SyncByteStream):
    """An async event stream read one chunk at a time through the loop thread."""

    def __init__(self, stream: EventStream, bridge: LoopThread) -> None:
        self.stream = stream
        self.bridge = bridge
        self.chunks = stream.__aiter__()

    def __iter__(self) -> Iterator[bytes]:
        while True:
            chunk = self.bridge.call(_next, self.chunks)
            if chunk is _END:
                return
            yield chunk

    def close(self) -> None:
        if self.bridge.thread.is_alive():
            self.bridge.call(self._aclose)

    async def _aclose(self) -> None:
        await self.chunks.aclose()  # type: ignore[attr-defined]
        await self.stream.aclose()


async def _next(chunks: AsyncIterator[bytes]) -> Any:
    try:
        return await chunks.__anext__()
    except StopAsyncIteration:
        return _END
