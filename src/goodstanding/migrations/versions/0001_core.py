"""Core tables: virtual keys, safety-identifier mapping, audit records.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float),
        sa.Column("expires_at", sa.Float),
        sa.Column("rpm", sa.Integer),
        sa.Column("tpm", sa.Integer),
        sa.Column("upstream", sa.String(64)),
        sa.Column("policy", sa.JSON, nullable=False),
        sa.Column("trust_tier", sa.String(16), nullable=False),
    )
    op.create_table(
        "identities",
        sa.Column("safety_identifier", sa.String(64), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("end_user", sa.String(256), nullable=False),
        sa.Column("first_seen", sa.Float, nullable=False),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(32)),
        sa.Column("tenant", sa.String(64)),
        sa.Column("end_user", sa.String(256)),
        sa.Column("client_ip", sa.String(64)),
        sa.Column("country", sa.String(8)),
        sa.Column("method", sa.String(8)),
        sa.Column("endpoint", sa.String(64)),
        sa.Column("model", sa.String(128)),
        sa.Column("stream", sa.Boolean, nullable=False),
        sa.Column("status", sa.Integer),
        sa.Column("tokens_in", sa.Integer),
        sa.Column("tokens_out", sa.Integer),
        sa.Column("decision", sa.String(32), nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("scores", sa.JSON, nullable=False),
        sa.Column("latency_ms", sa.Float),
    )
    op.create_index("ix_audit_events_ts", "audit_events", ["ts"])
    op.create_index("ix_audit_events_key_id", "audit_events", ["key_id"])
    op.create_index("ix_audit_events_end_user", "audit_events", ["end_user"])
    op.create_index("ix_audit_events_decision", "audit_events", ["decision"])


def downgrade() -> None:
    op.drop_table("audit_events")
    op.drop_table("identities")
    op.drop_table("keys")
