"""Incident notes, trouble records and ended dashboard sessions in SQL: the
``IncidentStore`` and ``SessionStore`` parts of ``SqlStore``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from goodstanding.stores import schema
from goodstanding.stores.base import IncidentNote

# a superset of the records ``incidents.classify`` keeps, narrowed in the database so that
# listing incidents reads a few rows, not the whole audit log (reasons are compact JSON text)
TROUBLE_DECISIONS = ("webhook", "upstream_error", "alert_sent", "alert_given_up",
                     "alert_logged")
TROUBLE_REASONS = ('%unavailable%', '%insufficient_quota%', '%credit_balance_exhausted%')


def audit_window(query: Any, since: float | None, until: float | None,
                 before_id: int | None) -> Any:
    """An audit query narrowed to ``since <= ts < until`` and, paging back, ``id < before_id``."""
    table = schema.audit_events
    if since is not None:
        query = query.where(table.c.ts >= since)
    if until is not None:
        query = query.where(table.c.ts < until)
    if before_id is not None:
        query = query.where(table.c.id < before_id)
    return query


def _trouble() -> Any:
    table = schema.audit_events
    reasons = sa.cast(table.c.reasons, sa.Text)
    return sa.or_(table.c.decision.in_(TROUBLE_DECISIONS),
                  *(reasons.like(pattern) for pattern in TROUBLE_REASONS))


class SqlIncidents:
    engine: AsyncEngine

    async def query_trouble(self, *, since: float | None = None, until: float | None = None,
                            limit: int = 1000, before_id: int | None = None
                            ) -> list[dict[str, Any]]:
        table = schema.audit_events
        query = table.select().where(_trouble()).order_by(table.c.id.desc()).limit(limit)
        query = audit_window(query, since, until, before_id)
        async with self.engine.connect() as conn:
            return [dict(row._mapping) for row in await conn.execute(query)]

    async def add_incident_note(self, note: IncidentNote) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(schema.incident_notes.insert(), [{
                "incident_id": note.incident_id, "at": note.at, "by": note.by,
                "note": note.note}])

    async def incident_notes(self, since: float | None = None) -> list[IncidentNote]:
        table = schema.incident_notes
        query = table.select().order_by(table.c.at, table.c.id)
        if since is not None:
            query = query.where(table.c.at >= since)
        async with self.engine.connect() as conn:
            return [IncidentNote(row.incident_id, row.at, row.by, row.note)
                    for row in await conn.execute(query)]

    async def revoke_sessions(self, scope: str, revoked_at: float, expires_at: float) -> None:
        table = schema.admin_session_revocations
        async with self.engine.begin() as conn:
            await conn.execute(table.delete().where(table.c.expires_at <= revoked_at))
            row = (await conn.execute(sa.select(table.c.revoked_at, table.c.expires_at)
                                      .where(table.c.scope == scope))).first()
            if row is None:
                await conn.execute(table.insert(), [{"scope": scope, "revoked_at": revoked_at,
                                                     "expires_at": expires_at}])
            else:
                await conn.execute(table.update().where(table.c.scope == scope).values(
                    revoked_at=max(revoked_at, row.revoked_at),
                    expires_at=max(expires_at, row.expires_at)))

    async def session_revocations(self, scopes: Sequence[str]) -> dict[str, float]:
        table = schema.admin_session_revocations
        query = sa.select(table.c.scope, table.c.revoked_at).where(table.c.scope.in_(scopes))
        async with self.engine.connect() as conn:
            return {row.scope: row.revoked_at for row in await conn.execute(query)}
