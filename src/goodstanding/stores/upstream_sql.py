"""Per upstream key over the SQL store: the audit log's counts by upstream key, and the
scheduled rotation's claim (``RotationLockStore``). SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from goodstanding.stores import schema
from goodstanding.stores.admin_sql import proxied_calls
from goodstanding.stores.base import WEBHOOK


class SqlUpstreamKeys:
    engine: AsyncEngine

    async def upstream_counts(self, starts: Sequence[float], limit: int = 10_000
                              ) -> list[dict[str, Any]]:
        audit, keys = schema.audit_events, schema.keys
        # records from before migration 0011 carry no upstream: their key's binding stands in
        name = sa.func.coalesce(audit.c.upstream, keys.c.upstream, "default")
        sums = []
        for i, start in enumerate(starts):
            after = audit.c.ts >= start
            sums += [sa.func.sum(sa.case((after, 1), else_=0)).label(f"calls_{i}"),
                     sa.func.sum(sa.case((after, audit.c.tokens_in), else_=0)).label(f"in_{i}"),
                     sa.func.sum(sa.case((after, audit.c.tokens_out), else_=0)).label(f"out_{i}")]
        reasons = sa.cast(audit.c.reasons, sa.Text)
        columns = (name.label("upstream"), audit.c.decision, audit.c.status,
                   reasons.label("reasons"))
        query = (sa.select(*columns, *sums)
                 .select_from(audit.outerjoin(keys, keys.c.id == audit.c.key_id))
                 .where(audit.c.ts >= min(starts), proxied_calls(),
                        # keyed calls, and enforcement webhooks naming an upstream's project
                        sa.or_(audit.c.key_id.is_not(None),
                               sa.and_(audit.c.decision == WEBHOOK, audit.c.upstream.is_not(None))))
                 .group_by(*columns).limit(limit))
        async with self.engine.connect() as conn:
            rows = await conn.execute(query)
            return [_counted(row, len(starts)) for row in rows]

    async def claim_rotation(self, name: str, holder: str, now: float, lease: float) -> bool:
        table = schema.upstream_rotations
        async with self.engine.begin() as conn:
            taken = await conn.execute(
                table.update()
                .where(table.c.name == name,
                       sa.or_(table.c.lease_until < now, table.c.holder == holder))
                .values(holder=holder, lease_until=now + lease))
            if taken.rowcount:
                return True
            insert = _insert_new(conn.dialect.name, table).values(
                name=name, holder=holder, lease_until=now + lease)
            return bool((await conn.execute(insert)).rowcount)

    async def release_rotation(self, name: str, holder: str, rotated_at: float | None) -> None:
        table = schema.upstream_rotations
        values: dict[str, Any] = {"lease_until": 0.0}
        if rotated_at is not None:
            values["rotated_at"] = rotated_at
        async with self.engine.begin() as conn:
            await conn.execute(table.update().where(
                table.c.name == name, table.c.holder == holder).values(**values))


def _counted(row: Any, windows: int) -> dict[str, Any]:
    data = row._mapping
    return {
        "upstream": data["upstream"], "decision": data["decision"], "status": data["status"],
        "reasons": orjson.loads(data["reasons"] or "[]"),
        "calls": [int(data[f"calls_{i}"] or 0) for i in range(windows)],
        "tokens_in": [int(data[f"in_{i}"] or 0) for i in range(windows)],
        "tokens_out": [int(data[f"out_{i}"] or 0) for i in range(windows)],
    }


def _insert_new(dialect: str, table: sa.Table) -> Any:
    """An insert that does nothing when the row exists (another holder inserted it first)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing(index_elements=["name"])
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing(index_elements=["name"])
