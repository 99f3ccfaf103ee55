"""The record of every call, written off the hot path.

Each call leaves one audit record: who (key, end user, client IP, country), what (endpoint,
model, tokens), the decision and its reasons, and how long it took. Never the prompt or the
answer text.

Records are queued in memory and written in batches by one background task (one multi-row
insert per batch). A record can be *durable*: its call waits until the batch holding it is
committed, which also wakes the writer at once. Calls that wait together share one commit
(group commit): the writer takes everything queued, so under load one commit covers a whole
batch of concurrent calls and the cost per call is latency (one commit), not CPU. The wait is
bounded (``storage.timeout``); a write that fails tells its waiters at once. Either way the
record stays queued and is written when the database is back. A clean shutdown flushes
everything queued. A failed write keeps its batch and tries again.

With a journal (``stores/journal.py``; by default next to a SQLite database), a durable record is
appended to the journal instead of waiting for a commit: one ``write(2)``, durable against
the process being killed, and the database gets it with the next batch as usual.

Every value is bounded by its column before it is queued (``stores/bounds.py``), so SQLite and
PostgreSQL accept the same records; a record a database still refuses is set aside in the
dead-letter table or file without holding up the others (``stores/deadletters.py``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from goodstanding.call import Call
from goodstanding.errors import StoreUnavailable
from goodstanding.metrics import STORE_ERRORS
from goodstanding.stores import schema
from goodstanding.stores.base import Identity, Store
from goodstanding.stores.bounds import bounder
from goodstanding.stores.deadletters import DEFAULT_PATH, DeadLetters
from goodstanding.stores.journal import Journal

log = logging.getLogger("goodstanding.audit")

DURABLE_WAIT_SECONDS = 0.5  # ``storage.timeout``'s default

bound_record = bounder(schema.audit_events, schema.AUDIT_FIELDS)
bound_identity = bounder(schema.identities, schema.IDENTITY_FIELDS)


def to_record(call: Call) -> dict[str, Any]:
    key = call.key
    return bound_record({
        "ts": call.received_at,
        "request_id": call.request_id,
        "key_id": key.id if key else None,
        "tenant": key.tenant if key else None,
        # the upstream key the call went out under (its per-upstream standing reads it)
        "upstream": (key.upstream or "default") if key else None,
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


WITHHELD = "store_unavailable:audit"


def withheld(record: dict[str, Any]) -> None:
    """An answer withheld because its record could not be made durable: the status is what
    the client got (503); the decision stays the policy's (the call was forwarded, and counts
    as forwarded in the report), and the reason says the answer was withheld."""
    record.update(bound_record({**record, "status": 503,
                                "reasons": [*(record["reasons"] or ()), WITHHELD]}))


class AuditLog:
    def __init__(
        self, store: Store, batch_size: int = 256, interval: float = 0.2,
        max_pending: int = 100_000, durable_wait: float = DURABLE_WAIT_SECONDS,
        journal: Journal | None = None, dead_letter_path: Path | None = None,
    ) -> None:
        self.store = store
        self.dead_letters = DeadLetters(store, dead_letter_path or DEFAULT_PATH)
        self.batch_size = batch_size
        self.interval = interval
        # records held while the database cannot take them; past this the pipeline refuses new
        # calls (503 store_unavailable) instead of serving calls it could not record
        self.max_pending = max_pending
        self.durable_wait = durable_wait
        self.journal = journal
        self._journaling = False  # the journal is open (``start``)
        self._records: list[dict[str, Any]] = []
        self._identities: list[Identity] = []
        self._known: set[str] = set()
        self._waiters: list[asyncio.Future[bool]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        if self._task is None:
            if self.journal is not None and not self._journaling:
                # records a killed gateway journaled but never wrote: the next batch
                self._records[:0] = self.journal.open()
                self._journaling = True
            self._task = asyncio.get_running_loop().create_task(self._run(), name="audit-writer")

    async def record(self, call: Call, durable: bool = False, commit: bool = False,
                     answer: bool = False) -> bool:
        """Queue the call's record. With ``durable``, make it durable before returning: in
        the journal when there is one (unless ``commit``), else by waiting until the database
        committed it (at most ``durable_wait`` seconds). Whether it is (True without
        ``durable``).

        An ``answer`` is given only once its record is durable: one that is not (the store
        was known to be down, so not ``durable``; or the wait ran out) is withheld, 503, and
        its record, still queued for the database, says so rather than the upstream's 200."""
        record = to_record(call)
        if answer and not durable:
            withheld(record)
        committed = await self._keep(record, durable, commit, call.request_id)
        if answer and durable and not committed:
            # Still queued (a failed batch is queued again, the same dicts). A batch that was
            # already on its way and commits after the wait ran out keeps what it sent.
            withheld(record)
        return committed

    async def record_under(self, call: Call, upstream: str | None, durable: bool = False,
                           commit: bool = False) -> bool:
        """``record`` for a call that concerns an upstream key without a virtual key's binding
        (an enforcement webhook naming a project); not on the proxied calls' path."""
        record = to_record(call)
        if upstream is not None:
            record["upstream"] = upstream
        return await self._keep(record, durable, commit, call.request_id)

    async def record_event(self, record: dict[str, Any]) -> bool:
        """Queue a record that is not a proxied call (an admin action), bounded like the rest,
        and make it durable as a refusal's is: an action is answered once it is recorded."""
        return await self._keep(bound_record(record), True, False, str(record["request_id"]))

    async def _keep(self, record: dict[str, Any], durable: bool, commit: bool,
                    request_id: str) -> bool:
        self._records.append(record)
        if durable and self._journaling and not commit:
            assert self.journal is not None
            try:
                self.journal.append(record)  # durable now; the database gets it in a batch
            except OSError as exc:  # a full or failing disk: the database's commit instead
                log.error("audit journal write failed for %s: %s; waiting for the database's "
                          "commit", request_id, exc)
            else:
                durable = False
        if not durable and len(self._records) < self.batch_size:
            return True
        if self._task is None:  # no writer (library mode without start): write inline
            try:
                await self.flush()
            except Exception:  # noqa: BLE001 - logged in flush(); the record is kept
                return not durable
            return True
        self._wake.set()
        if not durable:
            return True
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_later(self.durable_wait, _tell, waiter, False)
        try:
            committed = await waiter
        finally:
            timer.cancel()
        if not committed:
            log.error("audit record %s not committed within %ss (kept for retry)",
                      request_id, self.durable_wait)
        return committed

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
        sealed = self._seal()
        try:
            # what the database refuses is set aside; what is left on a failure is kept
            await self.dead_letters.write("identity", identities, self.store.remember_identities)
            await self.dead_letters.write("audit", records, self.store.write_audit)
        except Exception as exc:
            STORE_ERRORS.inc("database")
            # a database that does not answer in time is expected, and named: no stack trace
            log.error("audit write failed; %d records kept for retry: %s", len(records),
                      exc.__class__.__name__, exc_info=not isinstance(exc, StoreUnavailable))
            self._records[:0] = records
            self._identities[:0] = identities
            for waiter in waiters:  # told now, not after their timeout: the store is failing
                _tell(waiter, False)
            raise
        if sealed:
            assert self.journal is not None
            self.journal.release(sealed)  # the database holds what they journaled
        for waiter in waiters:
            _tell(waiter, True)

    def _seal(self) -> int:
        """Seal the journal's segment: what it holds is in this batch (0: nothing sealed)."""
        if not self._journaling:
            return 0
        assert self.journal is not None
        try:
            return self.journal.seal()
        except OSError as exc:  # the segments stay until a later batch can seal them
            log.error("audit journal: could not start a new segment: %s", exc)
            return 0

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
        try:
            if self._records or self._identities or self._waiters:
                await self.flush()
        finally:
            if self._journaling:
                assert self.journal is not None
                self.journal.close()  # empty, unless the last flush failed: kept for next start
                self._journaling = False


def _tell(waiter: asyncio.Future[bool], committed: bool) -> None:
    if not waiter.done():
        waiter.set_result(committed)
