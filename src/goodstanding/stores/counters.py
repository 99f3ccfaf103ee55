"""Counter backends for limits, chosen by URL (STYLE 7): in-process now, Redis later.

``GOODSTANDING_REDIS_URL`` unset means in-process counters (one gateway process). A Redis
backend implements ``ratelimit.CounterStore`` with one Lua script per update.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from goodstanding.ratelimit import CounterStore

log = logging.getLogger("goodstanding.limits")


def _memory(url: str | None) -> CounterStore:
    from goodstanding.stores.counters_memory import MemoryCounters

    return MemoryCounters()


_BACKENDS: dict[str, Callable[[str | None], CounterStore]] = {"memory": _memory}


def open_counters(url: str | None) -> CounterStore:
    scheme = url.split(":", 1)[0] if url else "memory"
    factory = _BACKENDS.get(scheme)
    if factory is None:
        # the Redis backend registers itself here when it lands (issue 6); until then each
        # process counts on its own, which is only right with a single gateway process
        log.warning("no shared counter backend for %s:// yet; limits count per process", scheme)
        return _memory(None)
    return factory(url)
