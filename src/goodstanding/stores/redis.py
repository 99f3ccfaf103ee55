"""The Redis connection shared by the Redis backends, and what a Redis outage becomes.

``redis`` (with ``hiredis`` when installed) is imported only when ``GOODSTANDING_REDIS_URL``
is set. Timeouts are short on purpose: an unreachable Redis must turn into a quick 503
``store_unavailable`` (or the configured fallback), not a request that hangs.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from goodstanding.errors import ConfigError, StoreUnavailable

SOCKET_TIMEOUT = 1.0


def connect(url: str) -> Any:
    """A ``redis.asyncio.Redis`` for ``url`` (its pool connects lazily, on first use)."""
    try:
        import redis.asyncio as aioredis
    except ModuleNotFoundError:
        raise ConfigError(
            "storage.redis_url: Redis needs its client: pip install 'goodstanding[redis]'"
        ) from None
    return aioredis.from_url(
        url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT,
        health_check_interval=10, max_connections=64)


def script(client: Any, name: str) -> Any:
    """A Lua script shipped in ``goodstanding/lua``; called with EVALSHA (one round trip)."""
    source = files("goodstanding").joinpath("lua", f"{name}.lua").read_text()
    return client.register_script(source)


def errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean Redis cannot answer (as opposed to a bug)."""
    from redis.exceptions import ConnectionError, TimeoutError

    return (ConnectionError, TimeoutError, OSError)


def unavailable(exc: BaseException) -> StoreUnavailable:
    from goodstanding.metrics import STORE_ERRORS

    STORE_ERRORS.inc("redis")
    return StoreUnavailable(
        "The gateway's shared counter store (Redis) is unreachable; the request was not sent.",
        reasons=("store_unavailable:redis",))
