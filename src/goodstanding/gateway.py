"""The assembled gateway: settings, store, audit log, upstream and the pipeline.

Both shells (the HTTP server and library mode) hold one ``Gateway``; neither builds checks
or talks to storage itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from dataclasses import dataclass, field
from typing import Any

from goodstanding.audit import AuditLog
from goodstanding.checks import build_pipeline
from goodstanding.checks.moderation import close_moderation
from goodstanding.deadletters import dead_letter_path
from goodstanding.enforcement import Enforcer
from goodstanding.errors import ConfigError
from goodstanding.journal import Journal
from goodstanding.journal import folder_for as journal_folder
from goodstanding.ops import Ops
from goodstanding.pipeline import Pipeline
from goodstanding.settings import Settings
from goodstanding.standing import StandingCache
from goodstanding.stores import open_store, pool_size
from goodstanding.stores.base import Store
from goodstanding.stores.bounded import bound
from goodstanding.stores.counters import open_counters
from goodstanding.upstream import HttpUpstream, Upstream

log = logging.getLogger("goodstanding")


def require_runnable(settings: Settings) -> None:
    """What `serve` refuses to start without (SPEC §1), as one-line reasons."""
    if not settings.upstream.key and not settings.upstream.keys:
        raise ConfigError("no upstream key: set OPENAI_API_KEY or upstream.key")
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


def standing_cache(url: str | None, client: Any = None) -> StandingCache | None:
    """The shared (Redis pub/sub) standing cache when Redis is configured, else None."""
    if not url:
        return None
    from goodstanding.stores.standing_redis import RedisStandingCache

    return RedisStandingCache(url, client=client)


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

    @classmethod
    def build(
        cls, settings: Settings, store: Store | None = None, upstream: Upstream | None = None
    ) -> Gateway:
        storage = settings.storage
        store = store or open_store(storage.database_url,
                                    pool_size(storage.max_connections, workers()))
        store = bound(store, storage.timeout)  # every operation answers within the timeout
        folder = journal_folder(storage.database_url, storage.audit_journal)
        audit = AuditLog(store, storage.audit_batch_size, storage.audit_flush_interval,
                         storage.audit_max_pending, durable_wait=storage.timeout,
                         journal=Journal(folder) if folder else None,
                         dead_letter_path=dead_letter_path(storage.audit_dead_letter_path,
                                                           storage.database_url))
        upstream = upstream or HttpUpstream(settings)
        secret = settings.identity.secret or secrets.token_hex(32)
        redis = shared_redis(storage.redis_url, storage.timeout)
        counters = open_counters(storage.redis_url, storage.on_redis_error, client=redis,
                                 timeout=storage.timeout)
        enforcer = Enforcer(store, standing_cache(storage.redis_url, redis))
        verdicts = None
        if redis is not None:
            from goodstanding.stores.verdicts_redis import RedisVerdictCache

            verdicts = RedisVerdictCache(storage.redis_url or "", client=redis,
                                         local_size=settings.moderation.cache_size)
        ops = Ops.build(settings, store)
        enforcer.on_action = ops.on_action  # bans alert
        pipeline = build_pipeline(settings, store, audit, upstream, secret, enforcer, counters,
                                  verdicts, (ops.finisher,))
        return cls(settings, store, audit, upstream, pipeline, enforcer, redis=redis,
                   counters=counters, ops=ops)

    async def start(self) -> None:
        if self.settings.storage.database_url.startswith(("sqlite", "memory")):
            await self.store.migrate()  # explicit `goodstanding migrate` on PostgreSQL
        else:
            behind = await self.store.schema_behind()
            if behind:
                raise ConfigError(behind)
        self.audit.start()
        if self.ops is not None:
            self.ops.start()
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
            if self.ops is not None:
                await self.ops.close()
            await self.audit.close()
        finally:
            close_moderation(self.pipeline)
            await self.upstream.close()
            await self.store.close()
            if self.counters is not None:
                await self.counters.close()
            if self.redis is not None:
                await self.enforcer.cache.close()  # type: ignore[attr-defined]
                await self.redis.aclose()
            self.started = False
