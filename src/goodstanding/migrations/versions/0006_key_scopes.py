"""Virtual keys limited to browser origins and models (`keys create --origin … --model …`).

Revision ID: 0006
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("keys") as batch:
        batch.add_column(sa.Column("origins", sa.JSON))  # null or [] = any origin
        batch.add_column(sa.Column("models", sa.JSON))  # null or [] = any model


def downgrade() -> None:
    with op.batch_alter_table("keys") as batch:
        batch.drop_column("models")
        batch.drop_column("origins")
