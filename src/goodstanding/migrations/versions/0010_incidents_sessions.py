"""Operators' notes on incidents, and dashboard sessions ended before they expire.

``incident_notes``: what an operator recorded about an incident (``goodstanding incidents
resolve``, the admin API, the dashboard): who, when, what was changed. Incidents themselves
are derived from the audit log (``incidents/``), so only the operator's words are stored.

``admin_session_revocations``: a dashboard session signed out (``session:<nonce>``) or every
session of an admin token issued before ``revoked_at`` (``name:<token name>``), so that every
worker and process refuses a copied cookie at once. Rows past ``expires_at`` are pruned.

Revision ID: 0010
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident_notes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("incident_id", sa.String(64), nullable=False, index=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("by", sa.String(128), nullable=False),
        sa.Column("note", sa.String(2000), nullable=False),
    )
    op.create_table(
        "admin_session_revocations",
        sa.Column("scope", sa.String(200), primary_key=True),
        sa.Column("revoked_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("admin_session_revocations")
    op.drop_table("incident_notes")
