"""Point reads on the request path straight from a SQLite file: one thread hop each.

An end user's standing is read from the database whenever the in-process cache misses (a new
end user, or one unseen for the cache's few seconds): once per call for most traffic that
spreads over many end users. Through SQLAlchemy's async engine and aiosqlite that one-row
read costs about ten times the same query on the ``sqlite3`` module in a thread (statement
building, a greenlet switch and a thread hop for each of cursor, execute, fetch, close and
the connection's rollback on return to the pool): it was the dearest single step of a call.

``SqliteReads`` keeps one ``sqlite3`` connection on one thread of its own and runs each read
there as one job. The database is in WAL mode (``sql._engine``), so a read never waits for the
gateway's writer, and the connection is in autocommit mode: no transaction is held between
reads, each sees what was committed before it. A failure reaches the caller as the
SQLAlchemy error the engine would have raised (``OperationalError`` when the file cannot be
opened…), so ``stores.outage`` and the store's time bound (``stores/bounded.py``) treat it
as before; the connection is opened again on the next read, so recovery needs no restart.
Only a plain file path gets one (``reads_for``): an in-memory database exists only in the
engine's own connection.
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy.exc as sa_exc

BUSY_TIMEOUT_S = 30.0  # as the engine's connections (``connect_args``)


class SqliteReads:
    def __init__(self, path: str) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="goodstanding-sqlite-reads")
        self._connection: sqlite3.Connection | None = None  # used on the executor's thread only

    async def one(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """The first row ``sql`` returns, or None."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._one, sql, params)

    def _one(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        try:
            connection = self._connection
            if connection is None:
                connection = self._connection = sqlite3.connect(
                    self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            row: tuple[Any, ...] | None = connection.execute(sql, params).fetchone()
            return row
        except sqlite3.Error as exc:
            self._drop()  # a broken connection is not reused: the next read opens another
            # parameters are end-user ids: never in a message that may be logged
            raise sa_exc.DBAPIError.instance(sql, params, exc, sqlite3.Error,
                                             hide_parameters=True) from exc

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except sqlite3.Error:
                pass  # closing what already failed: nothing more to do

    async def close(self, timeout: float = 1.0) -> None:
        """Close the connection on its thread and let the thread end (a library client's
        ``close()`` leaves no thread behind); a read stuck longer than ``timeout`` (a frozen
        disk) is not waited for."""
        done = asyncio.get_running_loop().run_in_executor(self._executor, self._drop)
        try:
            await asyncio.wait_for(done, timeout)
        except TimeoutError:
            self._executor.shutdown(wait=False)
            return
        # nothing is queued any more: the worker only has to take the shutdown sentinel
        self._executor.shutdown(wait=True)


def reads_for(url: str) -> SqliteReads | None:
    """A reader for a SQLite URL naming a plain file (``sqlite:///path``), else None."""
    scheme, _, rest = url.partition(":")
    if scheme.lower() not in ("sqlite", "sqlite+aiosqlite") or not rest.startswith("///"):
        return None
    path = rest[3:]
    if not path or "?" in path or path == ":memory:" or path.startswith("file:"):
        return None
    return SqliteReads(path)
