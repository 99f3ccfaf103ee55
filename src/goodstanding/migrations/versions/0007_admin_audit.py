"""The admin API's audit: who did an admin action, and the indexes its searches use.

``audit_events.actor`` names the admin token behind an admin action (null for calls through
the proxy). ``key_id`` is indexed together with ``ts`` (the keys list's "last used" is one
index probe per key) and ``request_id`` is indexed (the events search by request id).

Revision ID: 0007
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("actor", sa.String(128)))
    op.drop_index("ix_audit_events_key_id", table_name="audit_events")
    op.create_index("ix_audit_events_key_ts", "audit_events", ["key_id", "ts"])
    op.create_index("ix_audit_events_request_id", "audit_events", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_request_id", table_name="audit_events")
    op.drop_index("ix_audit_events_key_ts", table_name="audit_events")
    op.create_index("ix_audit_events_key_id", "audit_events", ["key_id"])
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("actor")
