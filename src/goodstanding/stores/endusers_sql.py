"""End users, strikes and webhook ids in SQL: the ``EndUserStore`` half of ``SqlStore``.

Every write that changes what the gateway enforces is one transaction (status + its action;
strike + the count that decides on it), so a crash never leaves a ban without its record.

``change_standing`` holds the end user's lock for that whole transaction, so that concurrent
strikes (in this process or any other sharing the database) decide one after the other:

- PostgreSQL: a transaction-scoped advisory lock on a hash of (tenant, end user), taken first,
  so every later statement reads what the previous holder committed. An advisory lock rather
  than ``SELECT … FOR UPDATE`` because before the first strike there is no row to lock, and
  two first strikes would both see "no standing". A hash collision only makes two end users
  wait for each other, briefly.
- SQLite: ``BEGIN IMMEDIATE``: the database's one write lock, before the first read.

In-process, the same transitions first queue on a small set of asyncio locks, so a burst
against one end user holds at most one pooled connection per process instead of all of them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from goodstanding.enforcement.standing import Action, Change, Decide, Standing, Strike, Transition
from goodstanding.stores import schema
from goodstanding.stores.sqlite_reads import SqliteReads

_LOCK_SPACE = 0x67730001  # pg_advisory_xact_lock(space, key): "gs", end-user standings
_PG_LOCK = sa.text("SELECT pg_advisory_xact_lock(:space, :key)")
_LOCAL_LOCKS = 64  # in-process queues (one for SQLite: it has one writer anyway)

_STANDING_FIELDS = ("tenant", "end_user", "status", "until", "reason", "updated_at",
                    "forgiven_at")


def _standing(row: Any) -> Standing:
    return Standing(**row._mapping)


def _strike(row: Any) -> Strike:
    data = dict(row._mapping)
    data.pop("id")
    data["categories"] = tuple(data.get("categories") or ())
    return Strike(**data)


def _action(row: Any) -> Action:
    data = dict(row._mapping)
    data.pop("id")
    return Action(**data)


def _upsert(dialect: str, table: sa.Table, values: dict[str, Any], keys: list[str]) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement: Any = pg_insert(table).values(**values)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(table).values(**values)
    updates = {k: v for k, v in values.items() if k not in keys}
    return statement.on_conflict_do_update(index_elements=keys, set_=updates)


# built once: building the statement cost more than executing it (a point read per cache miss)
_SELECT_STANDING = schema.end_users.select().where(
    schema.end_users.c.tenant == sa.bindparam("tenant"),
    schema.end_users.c.end_user == sa.bindparam("end_user"))
# the same read on SQLite's own driver (sqlite_reads.py), in Standing's field order
_STANDING_SQL = (f"SELECT {', '.join(_STANDING_FIELDS)} FROM {schema.end_users.name} "
                 "WHERE tenant = ? AND end_user = ?")


async def _lock_end_user(conn: AsyncConnection, tenant: str, end_user: str) -> None:
    if conn.dialect.name == "postgresql":
        digest = hashlib.blake2b(f"{tenant}\x00{end_user}".encode(), digest_size=4).digest()
        key = int.from_bytes(digest, "big", signed=True)
        await conn.execute(_PG_LOCK, {"space": _LOCK_SPACE, "key": key})
    else:
        # pysqlite opened no transaction yet (it only does before a write): take the lock now
        await conn.exec_driver_sql("BEGIN IMMEDIATE")


async def _add_strike(conn: AsyncConnection, strike: Strike, since: float) -> int:
    """Store the strike; how many of its end user's strikes are at or after since."""
    table = schema.strikes
    count = (
        sa.select(sa.func.count()).select_from(table)
        .where(table.c.tenant == strike.tenant, table.c.end_user == strike.end_user,
               table.c.ts >= since)
    )
    await conn.execute(table.insert().values(**_values(strike)))
    return int((await conn.execute(count)).scalar_one())


async def _write(conn: AsyncConnection, change: Change) -> None:
    values = {f: getattr(change.standing, f) for f in _STANDING_FIELDS}
    upsert = _upsert(conn.dialect.name, schema.end_users, values, ["tenant", "end_user"])
    await conn.execute(upsert)
    await conn.execute(schema.enforcement_actions.insert().values(**_values(change.action)))


class SqlEndUsers:
    engine: AsyncEngine
    _local_locks: list[asyncio.Lock] | None = None
    # a SQLite file's point reads, without the engine (``sqlite_reads.py``); None elsewhere
    _reads: SqliteReads | None = None

    async def get_standing(self, tenant: str, end_user: str) -> Standing | None:
        if self._reads is not None:
            found = await self._reads.one(_STANDING_SQL, (tenant, end_user))
            return Standing(**dict(zip(_STANDING_FIELDS, found, strict=True))) if found else None
        async with self.engine.connect() as conn:
            row = (await conn.execute(_SELECT_STANDING, {"tenant": tenant,
                                                         "end_user": end_user})).first()
        return _standing(row) if row else None

    async def change_standing(
        self, tenant: str, end_user: str, decide: Decide, strike: Strike | None = None,
        window: float = 0.0,
    ) -> Transition:
        async with self._local_lock(tenant, end_user), self.engine.begin() as conn:
            await _lock_end_user(conn, tenant, end_user)
            row = (await conn.execute(_SELECT_STANDING, {"tenant": tenant,
                                                         "end_user": end_user})).first()
            before = _standing(row) if row else None
            count = 0
            if strike is not None:
                since = strike.ts - window
                if before is not None and before.forgiven_at is not None:
                    since = max(since, before.forgiven_at)
                count = await _add_strike(conn, strike, since)
            change = decide(before, count)
            if change is not None:
                await _write(conn, change)
        return Transition(before, count, change)

    def _local_lock(self, tenant: str, end_user: str) -> asyncio.Lock:
        locks = self._local_locks
        if locks is None:
            n = 1 if self.engine.dialect.name == "sqlite" else _LOCAL_LOCKS
            locks = self._local_locks = [asyncio.Lock() for _ in range(n)]
        return locks[hash((tenant, end_user)) % len(locks)]

    async def set_standing(self, standing: Standing, action: Action) -> None:
        await self.change_standing(standing.tenant, standing.end_user,
                                   lambda _, __: Change(standing, action))

    async def list_standings(
        self, *, tenant: str | None = None, status: str | None = None, limit: int = 1000
    ) -> list[Standing]:
        table = schema.end_users
        query = table.select().order_by(table.c.updated_at.desc()).limit(limit)
        if tenant is not None:
            query = query.where(table.c.tenant == tenant)
        if status is not None:
            query = query.where(table.c.status == status)
        async with self.engine.connect() as conn:
            return [_standing(row) for row in await conn.execute(query)]

    async def strikes_of(self, tenant: str, end_user: str) -> list[Strike]:
        table = schema.strikes
        query = (table.select().where(table.c.tenant == tenant, table.c.end_user == end_user)
                 .order_by(table.c.ts, table.c.id))
        async with self.engine.connect() as conn:
            return [_strike(row) for row in await conn.execute(query)]

    async def clear_strikes(self, tenant: str, end_user: str) -> int:
        table = schema.strikes
        async with self.engine.begin() as conn:
            result = await conn.execute(
                table.delete().where(table.c.tenant == tenant, table.c.end_user == end_user))
        return int(result.rowcount or 0)

    async def actions_of(self, tenant: str, end_user: str) -> list[Action]:
        table = schema.enforcement_actions
        # in the order they were taken (under the end user's lock), not by their strikes' times:
        # a strike that happened earlier may be decided later
        query = (table.select().where(table.c.tenant == tenant, table.c.end_user == end_user)
                 .order_by(table.c.id))
        async with self.engine.connect() as conn:
            return [_action(row) for row in await conn.execute(query)]

    async def claim_webhook(self, webhook_id: str, received_at: float) -> bool:
        try:
            async with self.engine.begin() as conn:
                await conn.execute(schema.webhook_events.insert().values(
                    id=webhook_id, received_at=received_at))
        except IntegrityError:
            return False  # the primary key says we have seen this delivery already
        return True

    async def release_webhook(self, webhook_id: str) -> None:
        table = schema.webhook_events
        async with self.engine.begin() as conn:
            await conn.execute(table.delete().where(table.c.id == webhook_id))


def _values(record: Strike | Action) -> dict[str, Any]:
    values = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    if "categories" in values:
        values["categories"] = list(values["categories"])
    return values
