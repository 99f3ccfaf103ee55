"""The real PostgreSQL and Redis the storage tests use (started by `make test`).

Under ``CI=true`` a missing service fails the test; on a laptop without them the test is
skipped with the reason. Each PostgreSQL test gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_ADMIN_URL = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/test"
# one Redis database per pytest-xdist worker ("gw0" -> 1, "gw1" -> 2; 0 without xdist): two
# tests running at once must not add to each other's organization-wide counters
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
REDIS_DB = int(_WORKER[2:]) + 1 if _WORKER.startswith("gw") and _WORKER[2:].isdigit() else 0
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"


def _reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), 0.5).close()
    except OSError:
        return False
    return True


def require(service: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    message = f"{service} is not reachable on {host}:{port} (make test starts it)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty database; yields its URL."""
    require("PostgreSQL", PG_HOST, PG_PORT)
    name = "gs_" + secrets.token_hex(6)
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def redis_url() -> str:
    require("Redis", "127.0.0.1", 6379)
    return REDIS_URL
