"""Per upstream key: which upstream key a call went out under, and the rotation lock.

``audit_events.upstream`` names the upstream key (``upstream.keys`` name, ``default`` for
``upstream.key``) of a call made with a virtual key, so usage, signals and standing can be
reported per upstream key from the audit log alone (``credentials/upstream_standing.py``).
``upstream_rotations`` holds one row per upstream key that the gateway's scheduled rotation
(``credentials/rotation_schedule.py``) claims before it rotates: across every worker and process sharing
the database, exactly one rotates a key.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("upstream", sa.String(64)))
    op.create_table(
        "upstream_rotations",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("lease_until", sa.Float, nullable=False),
        sa.Column("rotated_at", sa.Float),
    )


def downgrade() -> None:
    op.drop_table("upstream_rotations")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("upstream")
