"""End users, strikes and webhook ids in SQL: the ``EndUserStore`` half of ``SqlStore``.

Every write that changes what the gateway enforces is one transaction (status + its action;
strike + the count that decides on it), so a crash never leaves a ban without its record.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from goodstanding.standing import Action, Standing, Strike
from goodstanding.stores import schema

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


class SqlEndUsers:
    engine: AsyncEngine

    async def get_standing(self, tenant: str, end_user: str) -> Standing | None:
        table = schema.end_users
        query = table.select().where(table.c.tenant == tenant, table.c.end_user == end_user)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return _standing(row) if row else None

    async def set_standing(self, standing: Standing, action: Action) -> None:
        values = {f: getattr(standing, f) for f in _STANDING_FIELDS}
        async with self.engine.begin() as conn:
            upsert = _upsert(conn.dialect.name, schema.end_users, values, ["tenant", "end_user"])
            await conn.execute(upsert)
            await conn.execute(schema.enforcement_actions.insert().values(**_values(action)))

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

    async def add_strike(self, strike: Strike, since: float) -> int:
        table = schema.strikes
        count = (
            sa.select(sa.func.count()).select_from(table)
            .where(table.c.tenant == strike.tenant, table.c.end_user == strike.end_user,
                   table.c.ts >= since)
        )
        async with self.engine.begin() as conn:
            await conn.execute(table.insert().values(**_values(strike)))
            return int((await conn.execute(count)).scalar_one())

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

    async def record_action(self, action: Action) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(schema.enforcement_actions.insert().values(**_values(action)))

    async def actions_of(self, tenant: str, end_user: str) -> list[Action]:
        table = schema.enforcement_actions
        query = (table.select().where(table.c.tenant == tenant, table.c.end_user == end_user)
                 .order_by(table.c.ts, table.c.id))
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
