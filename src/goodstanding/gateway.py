"""The assembled gateway: settings, store, audit log, upstream and the pipeline.

Both shells (the HTTP server and library mode) hold one ``Gateway``; neither builds checks
or talks to storage itself.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field

from goodstanding.audit import AuditLog
from goodstanding.checks import build_pipeline
from goodstanding.enforcement import Enforcer
from goodstanding.errors import ConfigError
from goodstanding.pipeline import Pipeline
from goodstanding.settings import Settings
from goodstanding.stores import open_store
from goodstanding.stores.base import Store
from goodstanding.upstream import HttpUpstream, Upstream

log = logging.getLogger("goodstanding")


def require_runnable(settings: Settings) -> None:
    """What `serve` refuses to start without (SPEC §1), as one-line reasons."""
    if not settings.upstream.key and not settings.upstream.keys:
        raise ConfigError("no upstream key: set OPENAI_API_KEY or upstream.key")
    if not settings.identity.secret:
        raise ConfigError("GOODSTANDING_SECRET is not set (it keys the safety-identifier HMAC)")


@dataclass
class Gateway:
    settings: Settings
    store: Store
    audit: AuditLog
    upstream: Upstream
    pipeline: Pipeline
    enforcer: Enforcer
    started: bool = field(default=False)

    @classmethod
    def build(
        cls, settings: Settings, store: Store | None = None, upstream: Upstream | None = None
    ) -> Gateway:
        store = store or open_store(settings.storage.database_url)
        audit = AuditLog(
            store, settings.storage.audit_batch_size, settings.storage.audit_flush_interval
        )
        upstream = upstream or HttpUpstream(settings)
        secret = settings.identity.secret or secrets.token_hex(32)
        enforcer = Enforcer(store)
        pipeline = build_pipeline(settings, store, audit, upstream, secret, enforcer)
        return cls(settings, store, audit, upstream, pipeline, enforcer)

    async def start(self) -> None:
        if self.settings.storage.database_url.startswith(("sqlite", "memory")):
            await self.store.migrate()  # explicit `goodstanding migrate` on PostgreSQL
        self.audit.start()
        self.started = True

    async def close(self) -> None:
        try:
            await self.audit.close()
        finally:
            await self.upstream.close()
            await self.store.close()
            self.started = False
