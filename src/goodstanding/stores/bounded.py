"""Every store operation the gateway makes is bounded in time (``storage.timeout``).

``BoundedStore`` wraps the gateway's ``Store`` once, at assembly: each operation runs as its
own task and the caller waits at most ``timeout`` seconds for it. Past that, or when the
database cannot be reached (``stores.outage``), the caller gets ``StoreUnavailable`` (503
``store_unavailable``) at once. The abandoned operation is cancelled and left to clean up in
the background: cancelling a query on a frozen connection can itself hang (the driver tries
to tell the server), and the caller must not wait for that. Nothing is kept between calls, so
the first operation after the database is back is served: recovery needs no restart.

Start-up and shutdown (``migrate``, ``schema_behind``, ``close``) are not bounded. The audit
writer's batch inserts run off the request path and get a longer bound (``writer_timeout``):
they only have to give up on a dead connection, while a large backlog may take seconds.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable
from functools import partial
from typing import Any, TypeVar

from goodstanding.errors import StoreUnavailable
from goodstanding.stores import outage
from goodstanding.stores.base import Store

log = logging.getLogger("goodstanding.stores")

T = TypeVar("T")

UNBOUNDED = frozenset({"migrate", "schema_behind", "close"})
WRITER_OPERATIONS = frozenset({"write_audit", "remember_identities", "set_aside"})

# cancelled operations still cleaning up; held so that they are not garbage-collected
_abandoned: set[asyncio.Future[Any]] = set()


def writer_timeout(timeout: float) -> float:
    """The bound of the audit writer's batch inserts: long enough for a large backlog."""
    return max(5.0, 10 * timeout)


async def bounded(operation: Awaitable[T], timeout: float, name: str) -> T:
    """``operation``'s result, or ``StoreUnavailable`` after ``timeout`` seconds or on an
    outage; any other error (a bug, a bad query) is raised as it is.

    One task, one timer and one future that either wakes: what ``asyncio.wait`` does, without
    its sets and callback bookkeeping (it ran on every store call of the request path)."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(operation)
    waiter: asyncio.Future[None] = loop.create_future()
    wake = partial(_wake, waiter)
    timer = loop.call_later(timeout, wake, None)
    task.add_done_callback(wake)
    try:
        await waiter
    except BaseException:  # the caller was cancelled (its client left): so is the operation
        timer.cancel()
        _abandon(task)
        raise
    timer.cancel()
    if not task.done():
        _abandon(task)
        log.error("store operation %s took more than %ss: answering store_unavailable", name,
                  timeout)
        raise _unavailable(f"did not answer within {timeout}s")
    exc = task.exception()
    if exc is None:
        return task.result()
    if isinstance(exc, StoreUnavailable):
        raise exc
    if outage(exc):
        log.error("store operation %s: database unreachable (%s)", name, type(exc).__name__)
        raise _unavailable(type(exc).__name__) from exc
    raise exc


def _wake(waiter: asyncio.Future[None], _: object) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _abandon(task: asyncio.Future[Any]) -> None:
    task.cancel()
    _abandoned.add(task)
    task.add_done_callback(_cleaned_up)


def _cleaned_up(task: asyncio.Future[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: nobody waits for an abandoned operation


def _unavailable(why: str) -> StoreUnavailable:
    return StoreUnavailable(
        f"The gateway's database is unavailable ({why}); the request was not completed. "
        "Try again shortly.", reasons=("store_unavailable:database",))


class BoundedStore:
    """A ``Store`` whose operations each answer within ``timeout`` seconds (or raise
    ``StoreUnavailable``). Attributes that are not operations pass through."""

    def __init__(self, store: Store, timeout: float) -> None:
        self.inner = store
        self.timeout = timeout
        self.writer_timeout = writer_timeout(timeout)

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if name in UNBOUNDED or name.startswith("_") or not inspect.iscoroutinefunction(target):
            return target
        limit = self.writer_timeout if name in WRITER_OPERATIONS else self.timeout

        def operation(*args: Any, **kwargs: Any) -> Awaitable[Any]:
            return bounded(target(*args, **kwargs), limit, name)

        self.__dict__[name] = operation  # found directly from now on, without __getattr__
        return operation


def bound(store: Store, timeout: float) -> Store:
    """``store`` with every operation bounded by ``timeout`` (once: wrapping is idempotent)."""
    if isinstance(store, BoundedStore):
        return store  # type: ignore[return-value]
    return BoundedStore(store, timeout)  # type: ignore[return-value]
