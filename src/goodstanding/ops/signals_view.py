"""One end user's or one key's signals, for the admin API (``/users/{id}/signals``,
``/keys/{id}/signals``).

Every registered signal kind (``signals.py``) with how many of its events this end user or key
drove in the last hour and the last 24 hours, read from the standing counts' drivers
(``d:{hour}:{signal}``, kept 8 days; shared by every worker with Redis; hour buckets, so
"the last hour" is this hour and the one before, as the standing report reads it). Off the
hot path: one read of about 25 × (signals seen this week) hashes.
"""

from __future__ import annotations

from typing import Any

from goodstanding.ops.signals import KINDS
from goodstanding.ops.standing import SEP, WEEK_HOURS
from goodstanding.stores.base import Counts

HOURS = 24


def end_user_driver(tenant: str, end_user: str) -> str:
    return f"u:{tenant}{SEP}{end_user}"


def key_driver(key_id: str) -> str:
    return f"k:{key_id}"


async def driver_signals(counts: Counts, driver: str, now: float) -> list[dict[str, Any]]:
    """Each signal kind: ``signal``, ``title``, ``last_hour`` and ``last_24h`` counts."""
    hour = int(now // 3600)
    weeks = sorted({(hour - h) // WEEK_HOURS for h in range(HOURS + 1)})
    index = await counts.read([f"i:{w}" for w in weeks], now)
    seen = sorted({name for found in index for name in found if name in KINDS})
    keys = [(name, h) for name in seen for h in range(hour - HOURS, hour + 1)]
    read = await counts.read([f"d:{h}:{name}" for name, h in keys], now) if keys else []
    last_hour: dict[str, int] = {}
    last_day: dict[str, int] = {}
    for (name, h), found in zip(keys, read, strict=True):
        amount = found.get(driver, 0)
        if amount:
            last_day[name] = last_day.get(name, 0) + amount
            if h >= hour - 1:
                last_hour[name] = last_hour.get(name, 0) + amount
    return [{"signal": kind.name, "title": kind.title, "last_hour": last_hour.get(kind.name, 0),
             "last_24h": last_day.get(kind.name, 0)} for kind in KINDS.values()]
