"""Ids of Responses answers the gateway withheld, so that no later call continues from them.

``withheld_ids``: the response id of an answer an output check withheld, and the conversation
it was added to, until ``expires_at`` (``checks/continuation.py``); a call naming one as
``previous_response_id`` or ``conversation`` is refused. Rows past ``expires_at`` are pruned.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "withheld_ids",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("withheld_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("withheld_ids")
