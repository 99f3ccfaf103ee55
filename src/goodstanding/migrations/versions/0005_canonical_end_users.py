"""Canonical end-user ids: rewrite the ids stored before canonicalisation (data only).

From this version every end-user id is canonicalised at identity (``endusers/identity.py``), so a
standing stored as ``José Alice`` would no longer be found for a request naming it. This
rewrites the end-user ids of ``end_users``, ``strikes``, ``enforcement_actions`` and
``identities`` to their canonical form. Where several stored spellings become one end user,
the most severe standing is kept (banned, then suspended with the latest end, then the most
recent change) and their strikes and actions are joined. ``identities`` keeps every safety
identifier (old ones were computed over the old spelling): each now maps to the canonical id,
so a webhook naming an old identifier still reaches the right end user.

``audit_events`` is history and is left as recorded. Ids that are empty or too long once
canonicalised are left alone (no request can name them any more). Downgrade does nothing:
the original spellings are not kept.

Revision ID: 0005
Revises: 0002
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

from goodstanding.endusers.identity import stored_end_user

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None

_SIMPLE = ("strikes", "enforcement_actions", "identities")


def upgrade() -> None:
    bind = op.get_bind()
    _merge_standings(bind)
    for name in _SIMPLE:
        table = sa.table(name, sa.column("tenant"), sa.column("end_user"))
        rows = bind.execute(sa.select(table.c.tenant, table.c.end_user).distinct()).all()
        for tenant, end_user in rows:
            canonical = stored_end_user(end_user)
            if canonical != end_user:
                bind.execute(sa.update(table).where(table.c.tenant == tenant,
                                                    table.c.end_user == end_user)
                             .values(end_user=canonical))


def _merge_standings(bind: Any) -> None:
    table = sa.table("end_users", sa.column("tenant"), sa.column("end_user"),
                     sa.column("status"), sa.column("until"), sa.column("updated_at"))
    columns = (table.c.tenant, table.c.end_user, table.c.status, table.c.until,
               table.c.updated_at)
    for tenant, end_user, status, until, updated_at in bind.execute(sa.select(*columns)).all():
        canonical = stored_end_user(end_user)
        if canonical == end_user:
            continue
        mine = (tenant, end_user, status, until, updated_at)
        other = bind.execute(sa.select(*columns).where(
            table.c.tenant == tenant, table.c.end_user == canonical)).first()
        if other is not None and _severity(tuple(other)) >= _severity(mine):
            bind.execute(sa.delete(table).where(table.c.tenant == tenant,
                                                table.c.end_user == end_user))
            continue
        if other is not None:
            bind.execute(sa.delete(table).where(table.c.tenant == tenant,
                                                table.c.end_user == canonical))
        bind.execute(sa.update(table).where(table.c.tenant == tenant,
                                            table.c.end_user == end_user)
                     .values(end_user=canonical))


def _severity(row: tuple[Any, ...]) -> tuple[int, float, float]:
    _, _, status, until, updated_at = row
    rank = {"banned": 2, "suspended": 1}.get(status, 0)
    return rank, until or 0.0, updated_at or 0.0


def downgrade() -> None:
    pass  # the original spellings are not kept
