"""A minimal Redis client for the hot path: one pipelined RESP2 connection per process.

The counters make one or two script calls per request; through ``redis.asyncio`` each cost
about 200–260 µs of gateway CPU (a pool checkout, retry wrappers, command packing, a
``StreamReader``). This client is an ``asyncio.Protocol`` on the running loop with none of
that:

- one connection, opened lazily on first use (after ``serve --workers`` forks), reopened
  on the next call after it is lost; AUTH and SELECT from the URL;
- pipelining: commands issued in one loop iteration go out in one ``write``; replies are
  matched to callers in order (Redis answers in order on a connection);
- replies parsed by ``hiredis`` (installed with ``goodstanding[redis]``), or by a small
  Python parser when it is missing;
- scripts by EVALSHA: each registered script is loaded (SCRIPT LOAD, pipelined) whenever the
  connection opens, and a NOSCRIPT answer (a SCRIPT FLUSH since) is retried as EVAL;
- a watchdog instead of a timer per call: a connection with calls outstanding and no reply
  for ``timeout`` seconds is aborted, and its callers get ``TimeoutError``. It looks four
  times per ``timeout``, so a call waits at most 1.25 × ``timeout`` for a frozen Redis.

Failures are ``OSError``s (``ConnectionError``, ``TimeoutError``), what
``stores.redis.errors()`` already treats as "Redis unreachable". ``redis-py`` stays for
pub/sub, admin commands and ``/readyz``.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from typing import Any
from urllib.parse import unquote, urlsplit

_HiredisReader: Any
try:  # pragma: no cover - which one depends on the install
    from hiredis import Reader as _HiredisReader
    from hiredis import ReplyError
except ModuleNotFoundError:  # pragma: no cover
    _HiredisReader = None

    class ReplyError(Exception):  # type: ignore[no-redef]
        """An error reply from Redis (``-ERR ...``)."""


class RedisReplyError(Exception):
    """Redis answered a command with an error (a bug or a misconfiguration, not an outage)."""


def encode(args: tuple[Any, ...]) -> bytes:
    """One command in RESP2: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        else:  # int, float
            data = repr(arg).encode() if isinstance(arg, float) else b"%d" % arg
        out.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(out)


class _PyReader:
    """RESP2 reply parser for when ``hiredis`` is not installed (same interface)."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> None:
        self.buf += data

    def gets(self) -> Any:
        parsed = self._parse(0)
        if parsed is None:
            return False
        reply, end = parsed
        del self.buf[:end]
        return reply

    def _parse(self, at: int) -> tuple[Any, int] | None:
        buf = self.buf
        line_end = buf.find(b"\r\n", at)
        if line_end < 0:
            return None
        kind, line, after = buf[at:at + 1], bytes(buf[at + 1:line_end]), line_end + 2
        if kind == b"+":
            return line, after
        if kind == b"-":
            return ReplyError(line.decode(errors="replace")), after
        if kind == b":":
            return int(line), after
        if kind == b"$":
            size = int(line)
            if size < 0:
                return None, after
            if len(buf) < after + size + 2:
                return None
            return bytes(buf[after:after + size]), after + size + 2
        if kind == b"*":
            count = int(line)
            if count < 0:
                return None, after
            items = []
            for _ in range(count):
                parsed = self._parse(after)
                if parsed is None:
                    return None
                item, after = parsed
                items.append(item)
            return items, after
        raise ConnectionError(f"Redis protocol error: unexpected {bytes(kind)!r}")


def _reader() -> Any:
    return _HiredisReader() if _HiredisReader is not None else _PyReader()


class _Protocol(asyncio.Protocol):
    def __init__(self, connection: RespConnection) -> None:
        self.owner = connection
        self.reader = _reader()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        reader, pending = self.reader, self.owner.pending
        reader.feed(data)
        try:
            reply = reader.gets()
            while reply is not False:
                self.owner.replies += 1
                waiter = pending.popleft()
                if not waiter.done():
                    if isinstance(reply, ReplyError):
                        waiter.set_exception(RedisReplyError(str(reply)))
                    else:
                        waiter.set_result(reply)
                reply = reader.gets()
        except Exception as exc:  # noqa: BLE001 - a garbled stream: drop the connection
            self.owner.lost(ConnectionError(f"Redis protocol error: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.lost(exc)


WATCHDOG_TICKS = 4


class RespConnection:
    """One pipelined connection to the Redis at ``url`` (``redis://``, ``rediss://``,
    ``unix://``), opened on first use."""

    def __init__(self, url: str, timeout: float = 1.0) -> None:
        self.url, self.timeout = url, timeout
        self.pending: deque[asyncio.Future[Any]] = deque()
        self.replies = 0
        self._protocol: _Protocol | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._watchdog: asyncio.TimerHandle | None = None
        self._seen = -1
        self._stalled = 0  # watchdog ticks in a row without a reply
        self._opening: asyncio.Future[None] | None = None
        self._scripts: dict[bytes, bytes] = {}

    # --- connection -------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Connected, on the running loop: ``send`` may be called without ``await connect()``."""
        return self._protocol is not None and self._loop is asyncio.get_running_loop()

    async def connect(self) -> None:
        if self.ready:
            return
        if self._opening is not None and self._loop is asyncio.get_running_loop():
            await asyncio.shield(self._opening)
            return
        self._drop(ConnectionError("Redis connection reopened on another event loop"))
        loop = self._loop = asyncio.get_running_loop()
        opening = self._opening = loop.create_future()
        try:
            await asyncio.wait_for(self._open(loop), self.timeout)
        except BaseException as exc:
            error = _as_os_error(exc)
            self._drop(error)
            opening.set_exception(error)
            opening.exception()  # retrieved: nobody else may be waiting
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise error from exc
        finally:
            self._opening = None
        opening.set_result(None)

    async def _open(self, loop: asyncio.AbstractEventLoop) -> None:
        parts = urlsplit(self.url)
        query = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair)
        password = unquote(parts.password) if parts.password else None
        username = unquote(parts.username) if parts.username else None
        if parts.scheme == "unix":
            db = int(query.get("db", "0"))
            _, protocol = await loop.create_unix_connection(lambda: _Protocol(self), parts.path)
        else:
            path = parts.path.strip("/")
            db = int(path or query.get("db", "0"))
            context = ssl.create_default_context() if parts.scheme == "rediss" else None
            _, protocol = await loop.create_connection(
                lambda: _Protocol(self), parts.hostname or "127.0.0.1", parts.port or 6379,
                ssl=context)
        self._protocol = protocol
        setup = []
        if password is not None:
            setup.append(self.send("AUTH", username, password) if username
                         else self.send("AUTH", password))
        if db:
            setup.append(self.send("SELECT", db))
        # loaded up front: a NOSCRIPT retry would reach Redis behind commands sent after it,
        # which would break the in-order guarantee callers rely on (settle, then acquire)
        setup += [self.send("SCRIPT", "LOAD", source) for source in self._scripts.values()]
        for reply in setup:
            await reply

    def lost(self, exc: BaseException | None) -> None:
        self._drop(exc if isinstance(exc, OSError) else
                   ConnectionError(f"Redis connection lost ({exc or 'closed by the server'})"))

    def _drop(self, exc: BaseException) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            try:
                protocol.transport.abort()
            except RuntimeError:  # its event loop is already closed
                pass
        self._out.clear()
        pending, self.pending = self.pending, deque()
        for waiter in pending:
            if not waiter.done():
                waiter.set_exception(exc)
                waiter.exception()  # a fire-and-forget caller may never look
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    async def close(self) -> None:
        if self._protocol is not None and self.pending:
            try:
                await asyncio.wait_for(asyncio.gather(*self.pending, return_exceptions=True),
                                       self.timeout)
            except TimeoutError:
                pass
        self._drop(ConnectionError("Redis connection closed"))
        self._loop = None

    # --- commands ---------------------------------------------------------------------------

    def send(self, *args: Any) -> asyncio.Future[Any]:
        """Queue a command on the connection (``ready`` must be true); its reply's future.
        Everything queued in one loop iteration goes out in one write."""
        loop = self._loop
        assert loop is not None and self._protocol is not None
        self._out.append(encode(args))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        waiter = loop.create_future()
        self.pending.append(waiter)
        if self._watchdog is None:
            self._seen, self._stalled = self.replies, 0
            self._watchdog = loop.call_later(self.timeout / WATCHDOG_TICKS, self._check)
        return waiter

    async def call(self, *args: Any) -> Any:
        if not self.ready:
            await self.connect()
        return await self.send(*args)

    def script(self, source: str) -> bytes:
        """Register a Lua script; its SHA1 for ``evalsha``."""
        sha = hashlib.sha1(source.encode()).hexdigest().encode()
        self._scripts[sha] = source.encode()
        return sha

    def evalsha(self, sha: bytes, keys: list[Any], args: list[Any]) -> asyncio.Future[Any]:
        """EVALSHA (``ready`` must be true); a NOSCRIPT answer is retried as EVAL, which also
        loads the script."""
        loop = self._loop
        assert loop is not None
        first = self.send(b"EVALSHA", sha, len(keys), *keys, *args)
        result: asyncio.Future[Any] = loop.create_future()

        def answered(reply: asyncio.Future[Any]) -> None:
            if result.done():
                return
            exc = reply.exception()
            if exc is None:
                result.set_result(reply.result())
            elif isinstance(exc, RedisReplyError) and str(exc).startswith("NOSCRIPT") \
                    and self.ready:
                again = self.send(b"EVAL", self._scripts[sha], len(keys), *keys, *args)
                again.add_done_callback(lambda done: _copy(done, result))
            else:
                result.set_exception(exc)

        first.add_done_callback(answered)
        return result

    def _flush(self) -> None:
        self._flush_scheduled = False
        protocol = self._protocol
        if self._out and protocol is not None and protocol.transport is not None:
            data = b"".join(self._out) if len(self._out) > 1 else self._out[0]
            self._out.clear()
            protocol.transport.write(data)

    def _check(self) -> None:
        self._watchdog = None
        if not self.pending:
            return
        if self.replies != self._seen:
            self._seen, self._stalled = self.replies, 0
        else:
            self._stalled += 1
            if self._stalled >= WATCHDOG_TICKS:  # nothing answered for a whole timeout
                self._drop(TimeoutError(f"Redis did not answer within {self.timeout}s"))
                return
        assert self._loop is not None
        self._watchdog = self._loop.call_later(self.timeout / WATCHDOG_TICKS, self._check)


def _copy(source: asyncio.Future[Any], target: asyncio.Future[Any]) -> None:
    if target.done():
        return
    exc = source.exception()
    if exc is None:
        target.set_result(source.result())
    else:
        target.set_exception(exc)


def _as_os_error(exc: BaseException) -> OSError:
    if isinstance(exc, OSError):
        return exc
    if isinstance(exc, asyncio.TimeoutError):
        return TimeoutError("Redis did not accept a connection in time")
    return ConnectionError(f"could not connect to Redis: {exc}")

