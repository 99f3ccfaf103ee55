"""The assembled gateway: settings, store, audit log, upstream and the pipeline.

Both shells (the HTTP server and library mode) hold one ``Gateway``; neither builds checks
or talks to storage itself. ``Gateway.build`` is the composition root: every resource it
opens is registered, as it is opened, on one ``AsyncExitStack``, and ``close`` unwinds that
stack (last opened, first closed: the audit log is flushed while its store is still open).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from goodstanding.audit import AuditLog
from goodstanding.checks import build_pipeline
from goodstanding.checks.moderation import close_moderation
from goodstanding.checks.strikes import close_strikes
from goodstanding.credentials.rotation_schedule import RotationSchedule
from goodstanding.enforcement.enforcer import Enforcer
from goodstanding.errors import ConfigError
from goodstanding.ops import Ops
from goodstanding.pipeline import Pipeline
from goodstanding.settings import Settings
from goodstanding.stores import open_store, pool_size
from goodstanding.stores.base import Store
from goodstanding.stores.bounded import bound
from goodstanding.stores.counters import open_counters
from goodstanding.stores.deadletters import dead_letter_path
from goodstanding.stores.journal import Journal
from goodstanding.stores.journal import folder_for as journal_folder
from goodstanding.upstream import HttpUpstream, Upstream

if TYPE_CHECKING:
    from goodstanding.stores.standing_redis import RedisStandingCache

log = logging.getLogger("goodstanding")


def require_runnable(settings: Settings) -> None:
    """What `serve` refuses to start without (SPEC §1), as one-line reasons."""
    keyring = settings.keyring
    keyring.load()  # an unreadable env:/file:/secret: reference is named here
    if not keyring.key(None) and not any(keyring.key(n) for n in keyring.names):
        raise ConfigError("no upstream key: set OPENAI_API_KEY or upstream.key")
    for name in keyring.names:
        if not keyring.key(name):
            raise ConfigError(f"upstream.keys.{name}: {settings.upstream.keys[name].key} is "
                              "not set")
    if not settings.identity.secret:
        raise ConfigError("GOODSTANDING_SECRET is not set (it keys the safety-identifier HMAC)")


def workers() -> int:
    """How many gateway processes share this host (``serve --workers`` sets it)."""
    return int(os.environ.get("GOODSTANDING_WORKERS", "1") or 1)


def shared_redis(url: str | None, timeout: float) -> Any:
    if not url:
        return None
    from goodstanding.stores.redis import connect

    return connect(url, timeout)


def standing_cache(url: str | None, client: Any = None) -> RedisStandingCache | None:
    """The shared (Redis pub/sub) standing cache when Redis is configured, else None."""
    if not url:
        return None
    from goodstanding.stores.standing_redis import RedisStandingCache

    return RedisStandingCache(url, client=client)


async def check_key_bindings(store: Store, settings: Settings) -> None:
    """Refuse to start when a usable virtual key names an upstream key the settings lack."""
    from goodstanding.credentials.keys import unbound_reason

    reason = unbound_reason(await store.list_keys(), settings.keyring)
    if reason:
        raise ConfigError(reason)


@dataclass
class Gateway:
    settings: Settings
    store: Store
    audit: AuditLog
    upstream: Upstream
    pipeline: Pipeline
    enforcer: Enforcer
    started: bool = field(default=False)
    # the one Redis client of this process (None: embedded, in-process counters)
    redis: Any = None
    counters: Any = None  # closed here: sends the token settlements still queued
    # the standing score, alerts and access log (``goodstanding.ops``; the admin API mounts
    # ``ops.standing()`` and ``ops.recent_alerts()``)
    ops: Ops | None = None
    # keys nearing their maximum age: alerts and scheduled upstream rotation (None: off)
    rotations: RotationSchedule | None = None
    # everything build() opened, closed in reverse by close()
    resources: AsyncExitStack = field(default_factory=AsyncExitStack)

    @classmethod
    def build(
        cls, settings: Settings, store: Store | None = None, upstream: Upstream | None = None
    ) -> Gateway:
        storage = settings.storage
        resources = AsyncExitStack()
        store = store or open_store(storage.database_url,
                                    pool_size(storage.max_connections, workers()))
        store = bound(store, storage.timeout)  # every operation answers within the timeout
        resources.push_async_callback(store.close)
        upstream = upstream or HttpUpstream(settings)
        resources.push_async_callback(upstream.close)
        secret = settings.identity.secret or secrets.token_hex(32)
        redis = shared_redis(storage.redis_url, storage.timeout)
        if redis is not None:
            resources.push_async_callback(redis.aclose)
        counters = open_counters(storage.redis_url, storage.on_redis_error, client=redis,
                                 timeout=storage.timeout)
        resources.push_async_callback(counters.close)
        cache = standing_cache(storage.redis_url, redis)
        if cache is not None:
            resources.push_async_callback(cache.close)
        enforcer = Enforcer(store, cache, secret=secret)
        verdicts = None
        if redis is not None:
            from goodstanding.stores.verdicts_redis import RedisVerdictCache

            verdicts = RedisVerdictCache(storage.redis_url or "", client=redis,
                                         local_size=settings.moderation.cache_size)
        folder = journal_folder(storage.database_url, storage.audit_journal)
        audit = AuditLog(store, storage.audit_batch_size, storage.audit_flush_interval,
                         storage.audit_max_pending, durable_wait=storage.timeout,
                         journal=Journal(folder) if folder else None,
                         dead_letter_path=dead_letter_path(storage.audit_dead_letter_path,
                                                           storage.database_url))
        ops = Ops.build(settings, store, secret)
        enforcer.on_action = ops.on_action  # bans alert
        pipeline = build_pipeline(settings, store, audit, upstream, secret, enforcer, counters,
                                  verdicts, (ops.finisher,))
        resources.callback(close_moderation, pipeline)
        resources.push_async_callback(close_strikes, pipeline)  # before the store closes
        resources.push_async_callback(audit.close)  # flushes into the store
        resources.push_async_callback(ops.close)  # first to close: its last alerts are records
        rotations = None
        if settings.upstream.rotation.scheduled or settings.alerts.targets:
            rotations = RotationSchedule(settings, store, ops.alerts)
            resources.push_async_callback(rotations.close)  # before the alerts and the store
        return cls(settings, store, audit, upstream, pipeline, enforcer, redis=redis,
                   counters=counters, ops=ops, rotations=rotations, resources=resources)

    async def start(self) -> None:
        if self.settings.storage.database_url.startswith(("sqlite", "memory")):
            await self.store.migrate()  # explicit `goodstanding migrate` on PostgreSQL
        else:
            behind = await self.store.schema_behind()
            if behind:
                raise ConfigError(behind)
        await check_key_bindings(self.store, self.settings)
        self.audit.start()
        if self.ops is not None:
            self.ops.start()
        if self.rotations is not None:
            self.rotations.start()
        self.started = True

    async def readiness(self) -> dict[str, str]:
        """Each store: "ok" or "unreachable" (``/readyz``)."""
        stores = {"database": self.store.ping()}
        if self.redis is not None:
            stores["redis"] = self.redis.ping()
        report = {}
        for name, probe in stores.items():
            try:
                await asyncio.wait_for(probe, 2.0)
                report[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - any failure means not ready
                log.warning("readiness: %s unreachable: %s", name, type(exc).__name__)
                report[name] = "unreachable"
        return report

    async def close(self) -> None:
        try:
            await self.resources.aclose()
        finally:
            self.started = False
