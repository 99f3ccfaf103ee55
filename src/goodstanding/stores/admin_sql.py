"""The admin API's aggregate reads over the SQL store (``AdminQueryStore``): SQLite and
PostgreSQL alike, each one statement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from goodstanding.stores import schema
from goodstanding.stores.base import USAGE_GROUPS, EndUserQuery, EndUserRow

ADMIN = "admin"  # the decision of an admin action's record: not a proxied call


def proxied_calls() -> Any:
    """Records of calls: not admin actions, not alerts (``alert_sent``, … from ``ops``)."""
    decision = schema.audit_events.c.decision
    return sa.and_(decision != ADMIN, sa.not_(decision.like("alert\\_%", escape="\\")))


_LIKE_SPECIAL = str.maketrans({"\\": "\\\\", "%": "\\%", "_": "\\_"})


def category_clause(reasons: sa.Column[Any], category: str) -> Any:
    """One reason of the JSON array ends in ``:<category>`` (the array is stored as compact
    JSON text, so the reason is followed by its closing quote)."""
    pattern = f'%:{category.translate(_LIKE_SPECIAL)}"%'
    return sa.cast(reasons, sa.Text).like(pattern, escape="\\")


class SqlAdminQueries:
    engine: AsyncEngine

    async def list_end_users(self, query: EndUserQuery) -> list[EndUserRow]:
        inner = _end_users(query).subquery("users")
        select = sa.select(inner).order_by(inner.c.tenant, inner.c.end_user).limit(query.limit)
        for clause in _filters(inner, query):
            select = select.where(clause)
        async with self.engine.connect() as conn:
            rows = await conn.execute(select)
            return [_row(row, query.now) for row in rows]

    async def usage(
        self, *, since: float | None, until: float | None, group_by: Sequence[str],
        tenant: str | None = None, limit: int = 1000,
    ) -> list[dict[str, Any]]:
        table = schema.audit_events
        columns = [_group_column(self.engine.dialect.name, g).label(g) for g in group_by]
        query = sa.select(
            *columns,
            sa.func.count().label("requests"),
            sa.func.coalesce(sa.func.sum(table.c.tokens_in), 0).label("tokens_in"),
            sa.func.coalesce(sa.func.sum(table.c.tokens_out), 0).label("tokens_out"),
            sa.func.sum(sa.case((table.c.decision == "refused", 1), else_=0)).label("refusals"),
            sa.func.sum(sa.case((table.c.decision == "flagged", 1), else_=0)).label("flagged"),
        ).where(proxied_calls())
        if since is not None:
            query = query.where(table.c.ts >= since)
        if until is not None:
            query = query.where(table.c.ts < until)
        if tenant is not None:
            query = query.where(table.c.tenant == tenant)
        if columns:
            query = query.group_by(*columns)
        query = query.order_by(sa.desc("requests")).limit(limit)
        async with self.engine.connect() as conn:
            return [_usage_row(row) for row in await conn.execute(query)]

    async def last_used(self, key_ids: Sequence[str]) -> dict[str, float]:
        table = schema.audit_events
        found: dict[str, float] = {}
        async with self.engine.connect() as conn:
            for key_id in key_ids:  # one probe of ix_audit_events_key_ts per key
                last = (await conn.execute(
                    sa.select(sa.func.max(table.c.ts))
                    .where(table.c.key_id == key_id, table.c.decision != ADMIN))).scalar()
                if last is not None:
                    found[key_id] = float(last)
        return found


def _end_users(query: EndUserQuery) -> sa.Select[Any]:
    ids, users, strikes, audit = (schema.identities, schema.end_users, schema.strikes,
                                  schema.audit_events)
    known = sa.union(*(_narrowed(sa.select(t.c.tenant, t.c.end_user), t, query)
                       for t in (ids, users))).subquery("known")

    def same(table: sa.Table) -> Any:
        return sa.and_(table.c.tenant == known.c.tenant, table.c.end_user == known.c.end_user)

    counting = (sa.select(sa.func.count()).select_from(strikes)
                .where(same(strikes), strikes.c.ts >= query.window_start,
                       strikes.c.ts >= sa.func.coalesce(users.c.forgiven_at, 0.0))
                .scalar_subquery())
    total = sa.select(sa.func.count()).select_from(strikes).where(same(strikes)).scalar_subquery()
    first = sa.select(sa.func.min(ids.c.first_seen)).where(same(ids)).scalar_subquery()
    last = (sa.select(sa.func.max(audit.c.ts))
            .where(same(audit), audit.c.decision != ADMIN).scalar_subquery())
    return sa.select(
        known.c.tenant, known.c.end_user, users.c.status, users.c.until, users.c.reason,
        users.c.updated_at, counting.label("strikes"), total.label("strikes_total"),
        first.label("first_seen"), last.label("last_seen"),
    ).select_from(known.outerjoin(users, same(users)))


def _narrowed(select: sa.Select[Any], table: sa.Table, query: EndUserQuery) -> sa.Select[Any]:
    """The tenant and end user asked for, applied inside the union (its indexes)."""
    if query.tenant is not None:
        select = select.where(table.c.tenant == query.tenant)
    if query.end_user is not None:
        select = select.where(table.c.end_user == query.end_user)
    return select


def _filters(inner: Any, query: EndUserQuery) -> list[Any]:
    clauses: list[Any] = []
    if query.tenant is not None:
        clauses.append(inner.c.tenant == query.tenant)
    if query.end_user is not None:
        clauses.append(inner.c.end_user == query.end_user)
    if query.after is not None:
        tenant, end_user = query.after
        clauses.append(sa.or_(inner.c.tenant > tenant,
                              sa.and_(inner.c.tenant == tenant, inner.c.end_user > end_user)))
    if query.min_strikes > 0:
        clauses.append(inner.c.strikes >= query.min_strikes)
    if query.seen_since is not None:
        clauses.append(inner.c.last_seen >= query.seen_since)
    if query.seen_until is not None:
        clauses.append(inner.c.last_seen < query.seen_until)
    if query.status is not None:
        clauses.append(_status_clause(inner, query.status, query.now))
    return clauses


def _status_clause(inner: Any, status: str, now: float) -> Any:
    """The effective status: an expired suspension is active again."""
    suspended = sa.and_(inner.c.status == "suspended", inner.c.until > now)
    if status == "suspended":
        return suspended
    if status == "banned":
        return inner.c.status == "banned"
    return sa.or_(inner.c.status.is_(None),
                  sa.and_(inner.c.status != "banned", sa.not_(suspended)))


def _row(row: Any, now: float) -> EndUserRow:
    status = row.status or "active"
    if status == "suspended" and (row.until is None or row.until <= now):
        status = "active"
    return EndUserRow(row.tenant, row.end_user, status, row.until, row.reason, row.updated_at,
                      int(row.strikes), int(row.strikes_total), row.first_seen, row.last_seen)


def _group_column(dialect: str, group: str) -> Any:
    table = schema.audit_events
    assert group in USAGE_GROUPS, group
    if group == "day":  # the UTC day number; CAST rounds on PostgreSQL, truncates on SQLite
        day = table.c.ts / 86400
        return sa.func.floor(day) if dialect == "postgresql" else sa.cast(day, sa.Integer)
    return table.c[{"key": "key_id"}.get(group, group)]


def _usage_row(row: Any) -> dict[str, Any]:
    document = dict(row._mapping)
    if "day" in document and document["day"] is not None:
        document["day"] = int(document["day"])
    for name in ("requests", "tokens_in", "tokens_out", "refusals", "flagged"):
        document[name] = int(document[name] or 0)
    return document
