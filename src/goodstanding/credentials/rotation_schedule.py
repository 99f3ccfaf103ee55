"""Keys nearing their maximum age: alerts, and the gateway's own scheduled upstream rotation.

Every ``upstream.rotation.check_interval`` each gateway process looks at

- each upstream key with a maximum age (its ``max_age``, else ``upstream.rotation.max_age``):
  from ``warn_before`` before that age it alerts ``rotation_due`` (once a day per key); at
  that age, with ``upstream.rotation.scheduled``, it rotates the key through OpenAI's Admin
  API exactly as ``goodstanding upstream rotate`` does (``rotation.py``: mint, switch, wait
  for requests in flight, delete the old key), so no request fails;
- each usable virtual key within ``keys.warn_before`` of ``keys.max_age``: ``rotation_due``.

Several workers and processes run this at once; exactly one rotates a key. Before rotating, a
process claims the key in the database (``upstream_rotations``, migration 0011: a row per key
with a lease), then looks at the key's age again: a process that claims after another has
rotated finds a young key and does nothing. The lease outlives a rotation (the switch's wait
plus the drain plus two minutes for the Admin API), so a crashed rotator blocks no one for long.
The rotation itself runs in a thread: its waits and the Admin API's calls block no request.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from goodstanding.credentials import rotation
from goodstanding.credentials.keys import describe
from goodstanding.errors import ConfigError, StoreUnavailable
from goodstanding.settings import Settings, parse_duration

if TYPE_CHECKING:
    from goodstanding.ops.alerts import Alerts
    from goodstanding.stores.base import Store

log = logging.getLogger("goodstanding.rotation")

ADMIN_API_SLACK = 120.0  # seconds a rotation's Admin API calls may take, on top of its waits


class RotationSchedule:
    def __init__(self, settings: Settings, store: Store, alerts: Alerts | None,
                 env: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.store = store
        self.alerts = alerts
        self.env = os.environ if env is None else env
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"[:128]
        ages = settings.upstream.rotation
        self.interval = parse_duration(ages.check_interval)
        self.drain = parse_duration(ages.drain)
        self.lease = settings.upstream.reload_interval + self.drain + ADMIN_API_SLACK
        self.rotated: list[str] = []  # names this process rotated (tests, logs)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name="rotation-schedule")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:  # the next check tries again
                log.exception("key ages could not be checked")
            await asyncio.sleep(self.interval)

    async def check(self) -> None:
        """One look at every key's age: alert, and rotate what is due (when scheduled)."""
        await self._upstream_keys()
        await self._virtual_keys()

    async def _upstream_keys(self) -> None:
        warn = rotation.warn_before(self.settings)
        for name, age, limit in await asyncio.to_thread(rotation.ages, self.settings, self.env):
            if age is not None and age < limit - warn:
                continue
            if self.settings.upstream.rotation.scheduled and (age is None or age >= limit):
                await self._rotate(name, limit)
            else:
                self._alert_due(f"upstream:{name}", f"Upstream key {name}", age, limit)

    async def _rotate(self, name: str, limit: float) -> None:
        try:
            claimed = await self.store.claim_rotation(name, self.holder, time.time(), self.lease)
        except StoreUnavailable:
            log.warning("upstream key %s is due for rotation; the database is unavailable to "
                        "claim it, trying at the next check", name)
            return
        if not claimed:
            return  # another process is rotating it
        rotated_at = None
        try:
            entry = self.settings.upstream.entry(None if name == "default" else name)
            assert entry is not None
            age = await asyncio.to_thread(rotation.age, entry, name, self.env)
            if age is not None and age < limit:
                return  # rotated by another process between our look and our claim
            done = await asyncio.to_thread(
                rotation.rotate, self.settings, name, self.env, drain=self.drain,
                say=log.info, keyring=self.settings.keyring)
            rotated_at = time.time()
            self.rotated.append(name)
            log.warning("scheduled rotation: upstream key %s is now %s (old key %s)", name,
                        done.new_key_id, "deleted" if done.deleted else "unknown: delete it")
        except ConfigError as exc:
            log.error("scheduled rotation of upstream key %s failed: %s", name, exc)
            if self.alerts is not None:
                self.alerts.fire("rotation_failed", f"Scheduled rotation of upstream key {name} "
                                 f"failed: {exc}", subject=name, upstream=name)
        finally:
            await self.store.release_rotation(name, self.holder, rotated_at)

    async def _virtual_keys(self) -> None:
        if self.alerts is None:
            return
        ages = self.settings.keys
        max_age, warn = parse_duration(ages.max_age), parse_duration(ages.warn_before)
        now = time.time()
        for key in await self.store.list_keys():
            if describe(key, now=now, max_age=max_age, warn_before=warn)["nearing_rotation"]:
                self._alert_due(f"key:{key.id}", f"Virtual key {key.id} ({key.name})",
                                now - key.created_at, max_age)

    def _alert_due(self, subject: str, what: str, age: float | None, limit: float) -> None:
        if self.alerts is None:
            return
        if age is None:
            summary = f"{what} has no known age and a maximum age of {_days(limit)}: rotate it."
        elif age >= limit:
            summary = f"{what} is {_days(age)} old, past its maximum age of {_days(limit)}: " \
                      "rotate it now."
        else:
            summary = f"{what} reaches its maximum age of {_days(limit)} in " \
                      f"{_days(limit - age)}: rotate it."
        self.alerts.fire("rotation_due", summary, subject=subject, key=subject)


def _days(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{max(seconds, 0):.0f} s"
