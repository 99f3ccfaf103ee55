"""End-user enforcement: standing per end user, strikes, the actions taken, webhook ids.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "end_users",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("end_user", sa.String(256), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("until", sa.Float),
        sa.Column("reason", sa.String(256)),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("forgiven_at", sa.Float),
    )
    op.create_index("ix_end_users_status", "end_users", ["status"])
    op.create_table(
        "strikes",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("end_user", sa.String(256), nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("reason", sa.String(256), nullable=False),
        sa.Column("categories", sa.JSON, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(64)),
    )
    op.create_index("ix_strikes_user_ts", "strikes", ["tenant", "end_user", "ts"])
    op.create_table(
        "enforcement_actions",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("end_user", sa.String(256), nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("by", sa.String(128), nullable=False),
        sa.Column("reason", sa.String(256)),
        sa.Column("until", sa.Float),
    )
    op.create_index("ix_enforcement_actions_user", "enforcement_actions",
                    ["tenant", "end_user", "ts"])
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("received_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("webhook_events")
    op.drop_table("enforcement_actions")
    op.drop_table("strikes")
    op.drop_table("end_users")
