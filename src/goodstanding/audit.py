"""The record of every call, written off the hot path.

Each call leaves one audit record: who (key, end user, client IP, country), what (endpoint,
model, tokens), the decision and its reasons, and how long it took. Never the prompt or the
answer text.

Records are queued in memory and written in batches by one background task (one multi-row
insert per batch). A refusal's record is *durable*: the refusal waits until the batch holding
its record is committed, which also wakes the writer at once (group commit). A clean shutdown
flushes everything queued. A failed write keeps its batch and tries again.

Every value is bounded by its column before it is queued (``stores/bounds.py``), so SQLite and
PostgreSQL accept the same records; a record a database still refuses is set aside in the
dead-letter table or file without holding up the others (``deadletters.py``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from goodstanding.call import Call
from goodstanding.deadletters import DEFAULT_PATH, DeadLetters
from goodstanding.stores import schema
from goodstanding.stores.base import Identity, Store
from goodstanding.stores.bounds import bounder

log = logging.getLogger("goodstanding.audit")

DURABLE_WAIT_SECONDS = 10.0

bound_record = bounder(schema.audit_events, schema.AUDIT_FIELDS)
bound_identity = bounder(schema.identities, schema.IDENTITY_FIELDS)


def to_record(call: Call) -> dict[str, Any]:
    return bound_record({
        "ts": call.received_at,
        "request_id": call.request_id,
        "key_id": call.key.id if call.key else None,
        "tenant": call.key.tenant if call.key else None,
        "end_user": call.end_user,
        "client_ip": call.client_ip,
        "country": call.country,
        "method": call.method,
        "endpoint": call.endpoint,
        "model": call.model,
        "stream": call.stream,
        "status": call.status,
        "tokens_in": call.tokens_in,
        "tokens_out": call.tokens_out,
        "decision": call.decision,
        "reasons": list(dict.fromkeys(call.reasons)),
        "scores": call.scores,
        "latency_ms": round((time.perf_counter() - call.started) * 1000, 3),
    })


class AuditLog:
    def __init__(
        self, store: Store, batch_size: int = 256, interval: float = 0.2,
        max_pending: int = 100_000, dead_letter_path: Path | None = None,
    ) -> None:
        self.store = store
        self.dead_letters = DeadLetters(store, dead_letter_path or DEFAULT_PATH)
        self.batch_size = batch_size
        self.interval = interval
        # records held while the database cannot take them; past this the pipeline refuses new
        # calls (503 store_unavailable) instead of serving calls it could not record
        self.max_pending = max_pending
        self._records: list[dict[str, Any]] = []
        self._identities: list[Identity] = []
        self._known: set[str] = set()
        self._waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="audit-writer")

    async def record(self, call: Call, durable: bool = False) -> None:
        self._records.append(to_record(call))
        if not durable and len(self._records) < self.batch_size:
            return
        await self._commit(durable, call.request_id)

    async def record_event(self, record: dict[str, Any], durable: bool = True) -> None:
        """Queue a record that is not a proxied call (an admin action), bounded like the rest;
        durable by default: an action is answered once its record is committed."""
        self._records.append(bound_record(record))
        await self._commit(durable, str(record.get("request_id")))

    async def _commit(self, durable: bool, request_id: str) -> None:
        """Wake the writer; a durable record waits until its batch is committed."""
        if self._task is None:  # no writer (library mode without start): write inline
            await self.flush()
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._wake.set()
        if durable:
            try:
                await asyncio.wait_for(asyncio.shield(waiter), DURABLE_WAIT_SECONDS)
            except TimeoutError:
                log.error("audit record %s not yet durable after %ss", request_id,
                          DURABLE_WAIT_SECONDS)

    @property
    def backlogged(self) -> bool:
        """True while more records wait for the database than ``max_pending``."""
        return len(self._records) >= self.max_pending

    def remember_identity(self, identity: Identity) -> None:
        """Queue a safety-identifier mapping, once per process per identifier."""
        if identity.safety_identifier in self._known:
            return
        if len(self._known) > 1_000_000:
            self._known.clear()
        self._known.add(identity.safety_identifier)
        self._identities.append(Identity(**bound_identity(dataclasses.asdict(identity))))
        if self._task is not None:
            self._wake.set()  # mappings are few and a webhook may need one soon

    async def flush(self) -> None:
        records, self._records = self._records, []
        identities, self._identities = self._identities, []
        waiters, self._waiters = self._waiters, []
        try:
            # what the database refuses is set aside; what is left on a failure is kept
            await self.dead_letters.write("identity", identities, self.store.remember_identities)
            await self.dead_letters.write("audit", records, self.store.write_audit)
        except Exception:
            log.exception("audit write failed; %d records kept for retry", len(records))
            self._records[:0] = records
            self._identities[:0] = identities
            self._waiters[:0] = waiters
            raise
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _run(self) -> None:
        while not self._closing:
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except TimeoutError:
                pass
            self._wake.clear()
            if self._records or self._identities:
                try:
                    await self.flush()
                except Exception:  # noqa: BLE001 - logged in flush(); the batch is kept
                    await asyncio.sleep(min(self.interval * 5, 1.0))

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._wake.set()
            await self._task
            self._task = None
        if self._records or self._identities or self._waiters:
            await self.flush()
