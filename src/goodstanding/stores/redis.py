"""The Redis connection shared by the Redis backends, and what a Redis outage becomes.

``redis`` (with ``hiredis`` when installed) is imported only when ``GOODSTANDING_REDIS_URL``
is set. Timeouts are short on purpose: an unreachable Redis must turn into a quick 503
``store_unavailable`` (or the configured fallback), not a request that hangs.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from goodstanding.errors import ConfigError, StoreUnavailable

SOCKET_TIMEOUT = 0.5  # ``storage.timeout``'s default; the gateway passes its own


def connect(url: str, timeout: float = SOCKET_TIMEOUT) -> Any:
    """A ``redis.asyncio.Redis`` for ``url`` (its pool connects lazily, on first use).

    A command that gets no answer within ``timeout`` fails and is not retried (a frozen Redis
    costs one timeout, not four); a dropped connection is retried once, on a new one (Redis
    restarted since the connection was pooled).
    """
    try:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import ConnectionError
    except ModuleNotFoundError:
        raise ConfigError(
            "storage.redis_url: Redis needs its client: pip install 'goodstanding[redis]'"
        ) from None
    return aioredis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1, supported_errors=(ConnectionError,)),
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
