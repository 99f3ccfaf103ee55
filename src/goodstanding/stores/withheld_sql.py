"""Withheld answers' ids in SQL: the ``WithheldStore`` part of ``SqlStore``.

Written once per withheld answer (rare), read only for a call that names a stored response or
conversation: one primary-key lookup. Expired rows are pruned by the next write (an index on
``expires_at``), so the table holds at most the ids withheld within the retention.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from goodstanding.stores import schema


def _upsert(dialect: str) -> Any:
    """Insert, or move an id's expiry: two calls of one conversation can both be withheld."""
    table = schema.withheld_ids
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=["id"], set_={"withheld_at": statement.excluded.withheld_at,
                                     "expires_at": statement.excluded.expires_at})


class SqlWithheld:
    engine: AsyncEngine

    async def remember_withheld(self, ids: Mapping[str, float], now: float) -> None:
        table = schema.withheld_ids
        rows = [{"id": i, "withheld_at": now, "expires_at": until} for i, until in ids.items()]
        async with self.engine.begin() as conn:
            await conn.execute(table.delete().where(table.c.expires_at <= now))
            if rows:
                await conn.execute(_upsert(conn.dialect.name), rows)

    async def withheld_among(self, ids: Sequence[str], now: float) -> set[str]:
        table = schema.withheld_ids
        query = table.select().with_only_columns(table.c.id).where(
            table.c.id.in_(list(ids)), table.c.expires_at > now)
        async with self.engine.connect() as conn:
            return {row.id for row in await conn.execute(query)}
