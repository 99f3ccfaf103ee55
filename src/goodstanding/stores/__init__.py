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
