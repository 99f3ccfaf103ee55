"""Storage behind small interfaces (base.py); the backend is chosen by URL scheme.

Drivers are imported only when their backend is chosen, so an embedded install needs no
PostgreSQL or Redis client.
"""

from __future__ import annotations

from collections.abc import Callable

from goodstanding.errors import ConfigError
from goodstanding.stores.base import Store


def _memory(url: str) -> Store:
    from goodstanding.stores.memory import MemoryStore

    return MemoryStore()


def _sql(url: str) -> Store:
    from goodstanding.stores.sql import SqlStore

    return SqlStore(url)


BACKENDS: dict[str, Callable[[str], Store]] = {
    "memory": _memory,
    "sqlite": _sql,
    "postgresql": _sql,
    "postgres": _sql,
}


def open_store(url: str) -> Store:
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    factory = BACKENDS.get(scheme)
    if factory is None:
        raise ConfigError(
            f"storage.database_url: unsupported scheme {scheme!r} "
            f"(use one of {', '.join(sorted(BACKENDS))})"
        )
    return factory(url)
