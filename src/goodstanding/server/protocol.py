"""uvicorn's HTTP/1.1 protocol (httptools), bounded against hostile clients.

uvicorn with httptools limits nothing of a request's head: a 32 MiB header or 10,000 headers
are read into memory, a half-sent request keeps its connection (and file descriptor) open
forever, and one address may hold every descriptor the process has. This subclass adds, per
connection and at almost no cost per request (a few attribute stores; no timer per request):

- the head (request line and headers) is bounded in bytes and header count: 431;
- the head must arrive within ``header_timeout`` of its first byte (or of the connection),
  the body within ``body_timeout`` of the head: else 408 (a connection that sent nothing is
  closed quietly), and a call whose body was cut off is recorded as incomplete
  (transport.read_body). One sweep per second per process finds the
  connections past their deadline;
- connections are capped per process (below the open-file limit) and per client address
  (the socket peer; trusted proxies are exempt): the connection over the cap is answered 503 or
  429 and closed (dropped at once when refusals themselves would hold too many descriptors:
  beyond twice the address's cap, or near the open-file limit);
- malformed framing is answered in OpenAI's error envelope, not uvicorn's plain text.

Every answer written here is a JSON error envelope with ``connection: close``, followed by a
lingering close (``_answer``).
"""

from __future__ import annotations

import asyncio
import resource
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from goodstanding.server.transport import TrustedProxies, request_id
from goodstanding.settings import ServerSettings

# descriptors kept free for everything that is not a client connection (stores, upstream
# connections, log files…)
FD_RESERVE = 128
# how long a connection over a cap may stay silent before its refusal is written anyway
REFUSED_GRACE_S = 1.0
# after an error answer: how long the client's further bytes are read and dropped
LINGER_S = 1.0
# a phase begun, its deadline not stamped yet (see _sweep)
HEAD, BODY = -1.0, -2.0


class Limits:
    """One server's bounds and the state they need (connections per address)."""

    def __init__(self, settings: ServerSettings) -> None:
        self.header_timeout = settings.header_timeout
        self.body_timeout = settings.body_timeout
        self.max_header_bytes = settings.max_header_bytes
        self.max_header_count = settings.max_header_count
        self.max_connections = min(settings.max_connections, descriptor_budget())
        self.per_ip = settings.max_connections_per_ip
        self.proxies = TrustedProxies(settings.trusted_proxies)
        self.by_ip: dict[str, int] = {}
        # deadlines are stamped and checked once a tick: a timeout may run a tick longer
        self.tick = min(1.0, self.header_timeout / 4, self.body_timeout / 4)
        self.sweeping = False


def descriptor_budget() -> int:
    """Client connections this process can hold without running out of file descriptors."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    return max(16, soft - FD_RESERVE)


def raise_open_file_limit() -> None:
    """Lift the soft open-file limit to the hard one (`serve`): more connections fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass  # some systems cap it lower than they report: keep the soft limit


def error_response(status: int, code: str, message: str, extra: bytes = b"") -> bytes:
    body = orjson.dumps({"error": {"message": message, "type": _TYPES.get(status,
                         "invalid_request_error"), "param": None, "code": code}})
    return b"".join((
        STATUS_LINE[status],
        b"content-type: application/json\r\ncontent-length: %d\r\n" % len(body),
        b"x-request-id: " + request_id().encode() + b"\r\n",
        extra,
        b"connection: close\r\n\r\n",
        body,
    ))


_TYPES = {429: "requests", 503: "server_error"}


_base = HttpToolsProtocol  # its callbacks, called directly (no super() per request)


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop reading a head over the limits."""


class GuardedProtocol(HttpToolsProtocol):
    limits: Limits  # set on the per-server subclass (protocol_class)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limits = self.limits
        self._deadline: float | None = None
        self._draining = False
        self._begun = False
        self._in_head = True
        self._message_done = False
        self._head_bytes = self._read = 0
        self._too_large = ""
        self._refusal: tuple[int, str, str, bytes] | None = None
        self._ip = self.client[0] if self.client else ""
        self._counted = False
        if not limits.sweeping:
            limits.sweeping = True
            self.loop.call_later(limits.tick, _sweep, limits, self.connections, self.loop)
        open_now = len(self.connections)
        if open_now > limits.max_connections:
            if open_now > limits.max_connections + FD_RESERVE // 2:
                transport.abort()  # descriptors are running out: no polite refusal to hold one
                return
            self._refuse(503, "The gateway has too many open connections; try again shortly.")
            return
        # every open connection of an address counts, its refused ones (still lingering) too
        count = limits.by_ip.get(self._ip, 0)
        limits.by_ip[self._ip] = count + 1
        self._counted = True
        if count >= limits.per_ip and not limits.proxies.trusted(self._ip):
            if count >= 2 * limits.per_ip:
                transport.abort()  # a flood: refusals must not hold descriptors either
                return
            self._refuse(429, "Too many open connections from this address.")
            return
        self._deadline = self.loop.time() + limits.header_timeout

    def _refuse(self, status: int, message: str) -> None:
        # answered once the client's first bytes are read (closing with its request unread
        # would reset the connection and lose the answer), or after a short grace
        self._refusal = (status, "too_many_connections", message, b"retry-after: 1\r\n")
        self._deadline = self.loop.time() + min(REFUSED_GRACE_S, self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._deadline = None
        if self._counted:
            self._counted = False
            left = self.limits.by_ip.get(self._ip, 1) - 1
            if left > 0:
                self.limits.by_ip[self._ip] = left
            else:
                self.limits.by_ip.pop(self._ip, None)

    def data_received(self, data: bytes) -> None:
        if self._draining:
            return  # answered already: dropped (see _answer)
        if self._refusal is not None:
            self._answer(*self._refusal)
            return
        self._read = len(data)
        _base.data_received(self, data)
        if self._message_done:  # this read ended a request: a next head is counted from the
            self._message_done = False  # next read (a whole one in on_headers_complete)
        elif self._in_head:  # a head still incomplete: httptools holds all of it in memory
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes and not self.transport.is_closing():
                self._answer(431, "headers_too_large", "The request's headers are too large.")

    def send_400_response(self, msg: str) -> None:  # malformed framing, or our own stop
        if self._too_large:
            self._answer(431, "headers_too_large", self._too_large)
        else:
            self._answer(400, "invalid_request", "The request is not valid HTTP/1.1.")

    def _answer(self, status: int, code: str, message: str, extra: bytes = b"") -> None:
        """Write an error envelope and end the connection.

        A lingering close, as web servers do: the write side is shut, and what the client
        still sends is read and dropped for up to ``LINGER_S``. Closing at once with its bytes
        unread would reset the connection and could destroy the answer before it is read.
        """
        if self._draining or self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if cycle.response_started:
                self.transport.close()  # a response is underway: nothing can be said any more
                return
            cycle.disconnected = True  # the handler sees its body end early; ours is the answer
            cycle.message_event.set()
        self.transport.write(error_response(status, code, message, extra))
        self._draining = True
        self._deadline = self.loop.time() + LINGER_S
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.flow.resume_reading()
        else:
            self.transport.close()

    def expire(self) -> None:
        """Past the deadline: a head not read in time is answered 408; a body cut off."""
        if self._draining:
            self._deadline = None
            self.transport.close()
        elif self._refusal is not None:
            self._answer(*self._refusal)
        elif not self._begun:  # not a byte sent: closed quietly, as an idle keep-alive is (an
            self._deadline = None  # answer nobody asked for could be read as the next one's)
            self.transport.close()
        elif self._in_head:
            self._answer(408, "request_timeout", "The request's headers did not arrive in time.")
        else:  # the handler sees the body end early (read_body) and records the call
            self._answer(408, "request_timeout", "The request's body did not arrive in time.")

    # parser callbacks
    def on_message_begin(self) -> None:
        _base.on_message_begin(self)
        self._in_head = self._begun = True
        self._deadline = HEAD  # stamped by the sweep: no clock read per request

    def on_headers_complete(self) -> None:
        # a whole head: nothing per header, two comparisons per request unless it came in
        # reads large enough to hold a head over the limit
        self._in_head = False
        limits = self.limits
        if len(self.headers) > limits.max_header_count:
            self._too_large = "The request has too many headers."
            raise _HeadTooLarge
        if (self._head_bytes + self._read > limits.max_header_bytes
                and _head_size(self.url, self.headers) > limits.max_header_bytes):
            self._too_large = "The request's headers are too large."
            raise _HeadTooLarge
        self._deadline = BODY
        _base.on_headers_complete(self)

    def on_message_complete(self) -> None:
        _base.on_message_complete(self)
        self._deadline = None  # the handler's turn; idle keep-alive is uvicorn's timeout
        self._in_head = self._message_done = True
        self._head_bytes = 0


def _head_size(url: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    return len(url) + sum(len(name) + len(value) for name, value in headers)


def _sweep(limits: Limits, connections: set[Any], loop: asyncio.AbstractEventLoop) -> None:
    """Stamp the phases begun since the last sweep with their deadline; expire the past ones.

    The request path only marks a phase (``HEAD``, ``BODY``): a timeout thus runs from up to one
    tick after its phase began, and no clock is read per request.
    """
    now = loop.time()
    expired = []
    for protocol in connections:
        deadline = protocol._deadline
        if deadline is None:
            continue
        if deadline == HEAD:
            protocol._deadline = now + limits.header_timeout
        elif deadline == BODY:
            protocol._deadline = now + limits.body_timeout
        elif deadline < now:
            expired.append(protocol)
    for protocol in expired:
        protocol.expire()
    loop.call_later(limits.tick, _sweep, limits, connections, loop)


def protocol_class(settings: ServerSettings) -> type[GuardedProtocol]:
    """A protocol class bound to one server's limits (uvicorn builds one per connection)."""
    return type("GatewayProtocol", (GuardedProtocol,), {"limits": Limits(settings)})
