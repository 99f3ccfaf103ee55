"""Calls shared by concurrent requests: micro-batching without added latency.

Used by the moderation client (one moderation call for many requests' texts) and by the
detectors' full layer (``detect/batched.py``: one embedding batch), so neither imports the
other. Described here for moderation, its first user:

When fewer than ``concurrency`` moderation calls are in flight, a request's texts go out at
once (together with any other request's texts submitted in the same turn of the event loop).
When ``concurrency`` calls are in flight, the texts of other requests wait; as soon as a call
finishes, everything waiting goes out together in one call (OpenAI answers an array of strings
with one result per string) and each waiter gets its own slice of the results back.

At concurrency 1 nothing ever waits. The request that finds a call free sends it from its own
task when, after one turn of the loop, its texts are the whole batch (no task per call); a batch
that carries other requests' texts goes out in a task of its own, so that a request that goes
away cannot cancel the others' call. Under load the number of moderation calls, and the CPU
they cost, grows far slower than the number of requests, which also keeps clear of
moderation's own low request limit. A batch is bounded (``MAX_TEXTS`` strings, about
``MAX_TOKENS`` tokens); one request's texts are never split. Multimodal inputs cannot be
merged (OpenAI answers them with one combined result): the client sends those alone.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

MAX_TEXTS = 32
MAX_TOKENS = 8_000

Send = Callable[[list[str]], Awaitable[list[Any]]]


def estimate_tokens(texts: Sequence[str]) -> int:
    """About four characters per token (what the budget reserves)."""
    return sum(len(text) // 4 + 1 for text in texts)


class _Waiter:
    __slots__ = ("future", "texts", "tokens")

    def __init__(self, texts: list[str], future: asyncio.Future[list[Any]]) -> None:
        self.texts, self.future = texts, future
        self.tokens = estimate_tokens(texts)


class Batcher:
    """Coalesces the texts of concurrent requests into shared calls of ``send``."""

    __slots__ = ("_pending", "_send", "_tasks", "concurrency", "in_flight")

    def __init__(self, send: Send, concurrency: int = 2) -> None:
        self._send = send
        self.concurrency = max(1, concurrency)
        self.in_flight = 0
        self._pending: deque[_Waiter] = deque()
        self._tasks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    async def classify(self, texts: list[str]) -> list[Any]:
        """One result per text, from a call that may carry other requests' texts too."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(texts, future)
        self._pending.append(waiter)
        if self.in_flight >= self.concurrency:
            return await future
        self.in_flight += 1
        try:
            await asyncio.sleep(0)  # texts submitted in the same turn of the loop join this call
            batch = self._take()
        except BaseException:
            future.cancel()  # left out of every batch from now on
            self._done()
            raise
        if len(batch) == 1 and batch[0] is waiter:  # the common case at low concurrency
            try:
                return await self._send(texts)
            finally:
                self._done()
        if batch:
            self._spawn(self._call(batch))
        else:
            self._done()
        return await future

    def _done(self) -> None:
        self.in_flight -= 1
        if self._pending and self.in_flight < self.concurrency:
            self._start()

    def _start(self) -> None:
        # the task takes its batch when it first runs: texts submitted in the same turn of
        # the event loop join it
        self.in_flight += 1
        self._spawn(self._run())

    def _spawn(self, work: Awaitable[None]) -> None:
        """Run ``work`` (which owns one call in flight) in a task of its own."""
        task = asyncio.get_running_loop().create_task(self._finally_done(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finally_done(self, work: Awaitable[None]) -> None:
        try:
            await work
        finally:
            self._done()

    async def _run(self) -> None:
        batch = self._take()
        if batch:
            await self._call(batch)

    def _take(self) -> list[_Waiter]:
        batch: list[_Waiter] = []
        texts = tokens = 0
        pending = self._pending
        while pending:
            waiter = pending[0]
            if waiter.future.done():  # its request went away while it waited
                pending.popleft()
                continue
            if batch and (texts + len(waiter.texts) > MAX_TEXTS
                          or tokens + waiter.tokens > MAX_TOKENS):  # fmt: skip
                break
            batch.append(pending.popleft())
            texts += len(waiter.texts)
            tokens += waiter.tokens
        return batch

    async def _call(self, batch: list[_Waiter]) -> None:
        texts = batch[0].texts if len(batch) == 1 else [t for w in batch for t in w.texts]
        try:
            results = await self._send(texts)
        except Exception as exc:  # noqa: BLE001 — handed on to every waiter, not swallowed
            for waiter in batch:
                if not waiter.future.done():
                    waiter.future.set_exception(exc)
            return
        except BaseException:  # the call was cancelled (shutting down): so are its waiters
            for waiter in batch:
                waiter.future.cancel()
            raise
        start = 0
        for waiter in batch:
            end = start + len(waiter.texts)
            if not waiter.future.done():
                waiter.future.set_result(results[start:end])
            start = end
