"""End users' acceptances of the content policy, one row per version accepted.

Revision ID: 0009
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_acceptances",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("end_user", sa.String(256), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("accepted_at", sa.Float, nullable=False),
        sa.Column("by", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("policy_acceptances")
