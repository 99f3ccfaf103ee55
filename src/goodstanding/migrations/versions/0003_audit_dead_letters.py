"""Audit records the database refused, set aside so that they block no other record.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_dead_letters",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(64)),
        sa.Column("error", sa.String(128), nullable=False),
        sa.Column("record", sa.JSON, nullable=False),
    )
    op.create_index("ix_audit_dead_letters_ts", "audit_dead_letters", ["ts"])
    op.create_index("ix_audit_dead_letters_request_id", "audit_dead_letters", ["request_id"])


def downgrade() -> None:
    op.drop_table("audit_dead_letters")
