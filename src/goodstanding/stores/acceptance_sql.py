"""Content-policy acceptances in SQL: the ``AcceptanceStore`` part of ``SqlStore``.

One row per (tenant, end user, version); a repeated acceptance of a version is ignored, so the
row keeps the first time it was accepted.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from goodstanding.stores import schema
from goodstanding.stores.base import Acceptance

_KEY = ["tenant", "end_user", "version"]


def _insert_ignore(dialect: str) -> Any:
    table = schema.policy_acceptances
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing(index_elements=_KEY)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing(index_elements=_KEY)


class SqlAcceptances:
    engine: AsyncEngine

    async def record_acceptance(self, acceptance: Acceptance) -> None:
        row = {"tenant": acceptance.tenant, "end_user": acceptance.end_user,
               "version": acceptance.version, "accepted_at": acceptance.accepted_at,
               "by": acceptance.by}
        async with self.engine.begin() as conn:
            await conn.execute(_insert_ignore(conn.dialect.name), [row])

    async def get_acceptance(self, tenant: str, end_user: str) -> Acceptance | None:
        table = schema.policy_acceptances
        query = (table.select().where(table.c.tenant == tenant, table.c.end_user == end_user)
                 .order_by(table.c.version.desc()).limit(1))
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return Acceptance(**row._mapping) if row else None

    async def accepted_end_users(self, version: int) -> set[tuple[str, str]]:
        table = schema.policy_acceptances
        query = (sa.select(table.c.tenant, table.c.end_user).where(table.c.version >= version)
                 .distinct())
        async with self.engine.connect() as conn:
            return {(row.tenant, row.end_user) for row in await conn.execute(query)}
