"""Abuse-signal state shared between gateway processes through Redis, off the request path.

The detectors (distillation, ramp) count in process memory: a request costs dict updates and
no store round trip. When the counters are in Redis (scaled out), every ``period`` seconds
each process sends what it counted since the last time and reads the totals back, in one
``lua/merge.lua`` call on the counters' own pipelined connection (``stores/resp.py``):

    HINCRBY each hash field by this process's delta, PEXPIRE it, then HGETALL it

so a process judges with ``its own counts + the other processes' counts as of the last
merge``, at most ``period`` seconds old. Once a process has served a call it merges every
``period`` (one small script call a second), busy or idle. What is shared is counts (a few small hashes per
active end user, key and minute), never per-request lists: memory in Redis follows the
active scopes, and each hash expires one window after its last update.

What stays per process, on purpose: the prompt sketches (a template run shows as
near-duplicates in every process's ring, wherever the load balancer sends it) and the
inter-arrival timing (see ``distillation.py``).

A merge that fails (Redis down) is dropped with a warning; the deltas are lost to the other
processes (each process keeps judging with its own counts, which only makes it laxer).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from importlib.resources import files
from typing import Any

log = logging.getLogger("goodstanding.abuse")

PERIOD = 1.0  # seconds between merges
MAX_HASHES = 2000  # hashes a collector hands in per merge; a flood waits for the next one

# one merge: {hash: {field: delta}} to add (an empty dict: only read it back) and its ttl in ms
Deltas = dict[str, dict[str, int]]
Totals = dict[str, dict[str, int]]


def abuse_merger(counters: Any) -> Merger | None:
    """A merger on the counters' Redis connection (``stores/counters_redis``); None when the
    counters are in-process (one process: its own counts are the whole truth)."""
    conn = getattr(counters, "conn", None)
    if conn is None:  # FallbackCounters: the shared ones' connection
        conn = getattr(getattr(counters, "shared", None), "conn", None)
    return Merger(conn) if conn is not None and hasattr(conn, "evalsha") else None


class Merger:
    """Sends deltas and reads totals every ``period``; each user hands in a collector.

    A collector is called at merge time and returns ``(deltas, ttl_ms, done)``: what to add
    (and read back), and the callback that receives the totals read (after the round trip).
    """

    def __init__(self, conn: Any, prefix: str = "gs:a:", period: float = PERIOD) -> None:
        self.conn = conn
        self.prefix = prefix
        self.period = period
        self.collectors: list[Callable[[], tuple[Deltas, int, Callable[[Totals], None]]]] = []
        self._sha = conn.script(files("goodstanding").joinpath("lua", "merge.lua").read_text())
        self._timer: asyncio.TimerHandle | None = None
        self._running: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Called on the request path: make sure a merge is scheduled (no I/O here)."""
        if self._timer is None and self._running is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._timer = loop.call_later(self.period, self._start)

    def _start(self) -> None:
        self._timer = None
        self._running = asyncio.get_running_loop().create_task(self.merge())
        self._running.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        # once woken, keep merging every period: an idle process still learns what the
        # others count (the ramp's organization total) before its next call needs it
        self._running = None
        if self.conn.ready:
            self.wake()

    async def merge(self) -> None:
        """One round trip: every collector's deltas in, the totals back out."""
        conn = self.conn
        if not conn.ready:
            return  # not connected (yet, or closed): the counters' next call reconnects it
        keys: list[str] = []
        args: list[Any] = []
        replies: list[tuple[list[str], Callable[[Totals], None]]] = []
        for collect in self.collectors:
            deltas, ttl, done = collect()
            names = list(deltas)
            for name in names:
                fields = deltas[name]
                keys.append(self.prefix + name)
                args += (ttl, len(fields))
                for field, amount in fields.items():
                    args += (field, amount)
            replies.append((names, done))
        if not keys:
            return
        try:
            out = await asyncio.wait_for(conn.evalsha(self._sha, keys, args), conn.timeout)
        except (OSError, TimeoutError) as exc:
            log.warning("abuse signals: shared counts not merged (%s)", type(exc).__name__)
            return
        at = 0
        for names, done in replies:
            done({name: _hash(out[at + i]) for i, name in enumerate(names)})
            at += len(names)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _hash(reply: Any) -> dict[str, int]:
    items = list(reply or [])
    return {(k.decode() if isinstance(k, bytes) else str(k)): int(v)
            for k, v in zip(items[::2], items[1::2], strict=True)}
