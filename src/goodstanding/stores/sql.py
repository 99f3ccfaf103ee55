"""The SQL store: SQLite (embedded default) or PostgreSQL, through SQLAlchemy 2 async.

The schema is owned by Alembic (``goodstanding migrate``); ``serve`` runs it automatically on
SQLite. Audit records arrive in batches from the audit writer and go in as one executemany
of a statement compiled once per dialect: SQLAlchemy's per-row parameter processing (and its
stdlib-json JSON columns) cost about as much CPU per record as the database's own insert.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from goodstanding.call import VirtualKey
from goodstanding.stores import schema
from goodstanding.stores.acceptance_sql import SqlAcceptances
from goodstanding.stores.admin_sql import SqlAdminQueries, category_clause
from goodstanding.stores.base import Identity
from goodstanding.stores.endusers_sql import SqlEndUsers
from goodstanding.stores.incidents_sql import SqlIncidents, audit_window
from goodstanding.stores.sqlite_reads import reads_for
from goodstanding.stores.upstream_sql import SqlUpstreamKeys
from goodstanding.stores.withheld_sql import SqlWithheld

_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg",
            "postgres": "postgresql+asyncpg"}


def async_url(url: str) -> str:
    scheme, rest = url.split(":", 1)
    if "+" in scheme:
        return url
    return f"{_DRIVERS[scheme.lower()]}:{rest}"


def _engine(url: str, pool_size: int) -> AsyncEngine:
    full = async_url(url)
    if full.startswith("sqlite"):
        engine = create_async_engine(full, connect_args={"timeout": 30})

        @sa.event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _: Any) -> None:
            # WAL: readers (CLI, admin) do not block the gateway's writer
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    try:
        # a fixed pool per worker (``storage.max_connections`` split between the workers);
        # pre-ping drops connections a PostgreSQL restart killed, so recovery needs no restart
        return create_async_engine(full, pool_size=pool_size, max_overflow=0, pool_timeout=10,
                                   pool_pre_ping=True, connect_args={"timeout": 5})
    except ModuleNotFoundError:
        from goodstanding.errors import ConfigError

        raise ConfigError(
            "storage.database_url: PostgreSQL needs its driver: pip install 'goodstanding[postgres]'"
        ) from None


def _key(row: Any) -> VirtualKey:
    data = dict(row._mapping)
    data["policy"] = data.get("policy") or {}
    data["origins"] = tuple(data.get("origins") or ())
    data["models"] = tuple(data.get("models") or ())
    return VirtualKey(**data)


class SqlStore(SqlEndUsers, SqlAcceptances, SqlAdminQueries, SqlUpstreamKeys, SqlIncidents,
               SqlWithheld):
    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = url
        self.engine = _engine(url, pool_size)
        self._reads = reads_for(url)
        self._audit_sql: str | None = None

    async def migrate(self) -> None:
        from goodstanding.migrations import upgrade

        async with self.engine.begin() as conn:
            await conn.run_sync(upgrade)

    async def schema_behind(self) -> str | None:
        """Why the schema is not at this version's head (None when it is)."""
        from goodstanding.migrations import behind

        async with self.engine.connect() as conn:
            return await conn.run_sync(behind)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def close(self) -> None:
        reads, self._reads = self._reads, None  # used again after this: through the engine
        if reads is not None:
            await reads.close()
        await self.engine.dispose()

    # keys
    async def add_key(self, key: VirtualKey) -> None:
        values = {f: getattr(key, f) for f in schema.KEY_FIELDS}
        async with self.engine.begin() as conn:
            await conn.execute(schema.keys.insert().values(**values))

    async def get_key(self, key_id: str) -> VirtualKey | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(schema.keys.select().where(schema.keys.c.id == key_id))).first()
        return _key(row) if row else None

    async def list_keys(self) -> list[VirtualKey]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(schema.keys.select().order_by(schema.keys.c.created_at))
            return [_key(row) for row in rows]

    async def update_key(self, key_id: str, **fields: Any) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                schema.keys.update().where(schema.keys.c.id == key_id).values(**fields)
            )
        return bool(result.rowcount)

    # identities
    async def remember_identities(self, identities: Sequence[Identity]) -> None:
        if not identities:
            return
        table = schema.identities
        rows = [
            {"safety_identifier": i.safety_identifier, "tenant": i.tenant,
             "end_user": i.end_user, "first_seen": i.first_seen}
            for i in identities
        ]
        async with self.engine.begin() as conn:
            insert = _insert_ignore(conn.dialect.name, table, "safety_identifier")
            await conn.execute(insert, rows)

    async def lookup_identity(self, safety_identifier: str) -> Identity | None:
        table = schema.identities
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(table.select().where(table.c.safety_identifier == safety_identifier))
            ).first()
        return Identity(**row._mapping) if row else None

    async def find_identities(self, prefix: str, limit: int) -> list[Identity]:
        table = schema.identities
        query = (table.select().where(table.c.safety_identifier.startswith(prefix, autoescape=True))
                 .order_by(table.c.safety_identifier).limit(limit))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [Identity(**row._mapping) for row in rows]

    # audit
    async def write_audit(self, records: Sequence[dict[str, Any]]) -> None:
        if records:
            async with self.engine.begin() as conn:
                sql = self._audit_sql
                if sql is None:
                    sql = self._audit_sql = _audit_insert(conn.dialect)
                await conn.exec_driver_sql(sql, [_audit_row(r) for r in records])

    async def query_audit(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        end_user: str | None = None,
        key_id: str | None = None,
        decision: str | None = None,
        limit: int = 100,
        tenant: str | None = None,
        endpoint: str | None = None,
        category: str | None = None,
        request_id: str | None = None,
        before_id: int | None = None,
    ) -> list[dict[str, Any]]:
        table = schema.audit_events
        query = table.select().order_by(table.c.id.desc()).limit(limit)
        for column, value in (("end_user", end_user), ("key_id", key_id), ("decision", decision),
                              ("tenant", tenant), ("endpoint", endpoint),
                              ("request_id", request_id)):
            if value is not None:
                query = query.where(table.c[column] == value)
        query = audit_window(query, since, until, before_id)
        if category is not None:
            query = query.where(category_clause(table.c.reasons, category))
        async with self.engine.connect() as conn:
            return [dict(row._mapping) for row in await conn.execute(query)]

    # records the database refused, set aside by the audit writer (stores/deadletters.py)
    async def set_aside(self, letters: Sequence[dict[str, Any]]) -> None:
        if letters:
            async with self.engine.begin() as conn:
                await conn.execute(schema.audit_dead_letters.insert(), list(letters))

    async def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        table = schema.audit_dead_letters
        async with self.engine.connect() as conn:
            rows = await conn.execute(table.select().order_by(table.c.id.desc()).limit(limit))
            return [dict(row._mapping) for row in rows]


def _audit_insert(dialect: Any) -> str:
    """The audit insert in the driver's own parameter style, columns in ``AUDIT_FIELDS`` order.

    ``inline``: no RETURNING of the new ids, which nobody reads.
    """
    compiled = schema.audit_events.insert().inline().compile(
        dialect=dialect, column_keys=list(schema.AUDIT_FIELDS))
    assert compiled.positiontup == list(schema.AUDIT_FIELDS), compiled.positiontup
    return str(compiled)


def _audit_row(record: dict[str, Any]) -> tuple[Any, ...]:
    """One record as the driver takes it: JSON columns as JSON text, the rest as they are."""
    row = [record.get(field) for field in schema.AUDIT_FIELDS]
    row[_REASONS] = orjson.dumps(row[_REASONS] or []).decode()
    row[_SCORES] = orjson.dumps(row[_SCORES] or {}).decode()
    if row[_STREAM] is None:
        row[_STREAM] = False
    return tuple(row)


_REASONS, _SCORES, _STREAM = (schema.AUDIT_FIELDS.index(f) for f in ("reasons", "scores", "stream"))


def _insert_ignore(dialect: str, table: sa.Table, key: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing(index_elements=[key])
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing(index_elements=[key])
