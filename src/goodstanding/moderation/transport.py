"""A lean HTTP/1.1 client for the moderation endpoint: kept-alive connections, one POST shape.

Moderation makes one to three calls per request (input; stream windows), so what a call costs
in CPU matters: aiohttp's client spends about 180 µs per call on this machine, this one about
35 µs. It writes one prepared request and reads the answer with httptools (llhttp, the parser
uvicorn already uses here). HTTP and HTTPS; no proxies, redirects or compression (it asks for
``identity``). Connections belong to the event loop that opened them.

Errors are the standard ones: ``OSError`` (refused, reset, closed early, malformed answer) and
``TimeoutError``; the moderation client retries once and then lets ``on_error`` decide.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

# the answer's headers that the moderation client reads: its rate-limit state, and retry-after
KEPT = (b"x-ratelimit-", b"retry-after")


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]  # the ones the client reads (``KEPT``), names lower-cased
    body: bytes


class _Connection(asyncio.Protocol):
    """One kept-alive connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Answer] | None = None
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.received = False
        self.closed = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionResetError(f"malformed moderation answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionResetError("the moderation endpoint closed the connection"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name.startswith(KEPT):
            self.headers[name.decode("latin-1")] = value.decode("latin-1").strip()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            status = self.parser.get_status_code()
            waiter.set_result(Answer(status, self.headers, b"".join(self.body)))
        if not self.parser.should_keep_alive():
            self.close()

    async def request(self, data: bytes, deadline: float) -> Answer:
        """Send ``data``; the answer, or TimeoutError at ``deadline`` (the loop's clock)."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self.waiter = waiter = loop.create_future()
        # one timer handle: cheaper than an asyncio.timeout() scope around every call
        timer = loop.call_at(deadline, self._expire)
        self.headers, self.body, self.received = {}, [], False
        self.transport.write(data)
        try:
            return await waiter
        finally:
            timer.cancel()
            self.waiter = None

    def _expire(self) -> None:
        self._fail(TimeoutError("the moderation endpoint did not answer in time"))

    def usable(self) -> bool:
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: Exception) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()


class Client:
    """POSTs to one URL over a small pool of kept-alive connections."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        default = parts.port is None
        authority = self.host if default else f"{self.host}:{self.port}"
        if ":" in self.host:  # IPv6 literal
            authority = f"[{self.host}]" + ("" if default else f":{self.port}")
        self._head = f"POST {path} HTTP/1.1\r\nhost: {authority}\r\n".encode("latin-1")
        self._idle: list[_Connection] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def post(self, headers: dict[str, str] | bytes, body: bytes, timeout: float) -> Answer:
        """POST ``body``; ``headers`` as a dict, or as lines already encoded (``encode``)."""
        lines = headers if isinstance(headers, bytes) else self.encode(headers)
        data = b"".join((self._head, lines,
                         b"accept-encoding: identity\r\ncontent-length: %d\r\n\r\n" % len(body),
                         body))  # fmt: skip
        deadline = asyncio.get_running_loop().time() + timeout
        connection = self._reuse()
        if connection is not None:
            try:
                return await self._send(connection, data, deadline)
            except ConnectionResetError:
                if connection.received:
                    raise
                # an idle connection the server had closed: once more on a fresh one
        async with asyncio.timeout_at(deadline):
            connection = await self._open()
        return await self._send(connection, data, deadline)

    @staticmethod
    def encode(headers: dict[str, str]) -> bytes:
        return "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode("latin-1")

    async def _send(self, connection: _Connection, data: bytes, deadline: float) -> Answer:
        try:
            answer = await connection.request(data, deadline)
        except BaseException:
            connection.close()  # a half-read answer would poison the next request
            raise
        if connection.usable():
            self._idle.append(connection)
        return answer

    def _reuse(self) -> _Connection | None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # connections of another (or a closed) loop are unusable
            self._idle, self._loop = [], loop
        while self._idle:
            connection = self._idle.pop()
            if connection.usable():
                return connection
        return None

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            _Connection, self.host, self.port, ssl=self.ssl,
            server_hostname=self.host if self.ssl else None)  # fmt: skip
        return connection

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()
