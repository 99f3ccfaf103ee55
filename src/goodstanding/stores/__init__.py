"""Storage behind small interfaces (base.py); the backend is chosen by URL scheme.

Drivers are imported only when their backend is chosen, so an embedded install needs no
PostgreSQL or Redis client.
"""

from __future__ import annotations

from collections.abc import Callable

from goodstanding.errors import ConfigError
from goodstanding.stores.base import Store


def _memory(url: str, pool_size: int) -> Store:
    from goodstanding.stores.memory import MemoryStore

    return MemoryStore()


def _sql(url: str, pool_size: int) -> Store:
    from goodstanding.stores.sql import SqlStore

    return SqlStore(url, pool_size)


BACKENDS: dict[str, Callable[[str, int], Store]] = {
    "memory": _memory,
    "sqlite": _sql,
    "postgresql": _sql,
    "postgres": _sql,
}


def open_store(url: str, pool_size: int = 10) -> Store:
    """The store for ``url``; ``pool_size`` is this process's share of database connections."""
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    factory = BACKENDS.get(scheme)
    if factory is None:
        raise ConfigError(
            f"storage.database_url: unsupported scheme {scheme!r} "
            f"(use one of {', '.join(sorted(BACKENDS))})"
        )
    return factory(url, pool_size)


def pool_size(max_connections: int, workers: int) -> int:
    """Each worker's fixed share of the host's database connections (at least 2)."""
    return max(2, max_connections // max(1, workers))


def outage(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached (not a bug, not a bad query)."""
    import sqlalchemy.exc as sa_exc

    if isinstance(exc, OSError | TimeoutError | sa_exc.TimeoutError):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        return exc.connection_invalidated or isinstance(
            exc, sa_exc.OperationalError | sa_exc.InterfaceError) or isinstance(
            exc.orig, OSError)
    return False


def rejected(exc: BaseException) -> bool:
    """Whether the database refused the data itself (a poison value), not the connection.

    PostgreSQL's data and integrity errors (SQLSTATE classes 22 and 23) and a trigger's
    ``RAISE`` (class P0) come from asyncpg as plain ``DBAPIError``; a value the driver cannot
    even encode raises ``ValueError``, ``TypeError`` or ``OverflowError`` before anything is
    sent. Anything else (a missing table, a lost connection) is not the record's fault.
    """
    import sqlalchemy.exc as sa_exc

    if outage(exc):
        return False
    if isinstance(exc, ValueError | TypeError | OverflowError):
        return True
    if isinstance(exc, sa_exc.DataError | sa_exc.IntegrityError):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return isinstance(state, str) and state[:2] in ("22", "23", "P0")
    return False


def error_class(exc: BaseException) -> str:
    """The driver's own name for an error, and its SQLSTATE when there is one (never the
    message: it can quote the refused value)."""
    inner = exc
    orig = getattr(exc, "orig", None)
    if orig is not None:
        inner = orig.__cause__ or orig
    state = getattr(inner, "sqlstate", None)
    name = type(inner).__name__
    return f"{name} ({state})" if isinstance(state, str) else name
