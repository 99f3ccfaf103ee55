"""Tables, shared by the SQL store and the Alembic migrations."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

keys = sa.Table(
    "keys",
    metadata,
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
    sa.Column("policy", sa.JSON, nullable=False, default=dict),
    sa.Column("trust_tier", sa.String(16), nullable=False, default="anonymous"),
    # browser origins and models the key is limited to (migration 0006); empty = any
    sa.Column("origins", sa.JSON),
    sa.Column("models", sa.JSON),
)

identities = sa.Table(
    "identities",
    metadata,
    sa.Column("safety_identifier", sa.String(64), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("end_user", sa.String(256), nullable=False),
    sa.Column("first_seen", sa.Float, nullable=False),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("ts", sa.Float, nullable=False, index=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("key_id", sa.String(32)),
    sa.Column("tenant", sa.String(64)),
    sa.Column("end_user", sa.String(256), index=True),
    sa.Column("client_ip", sa.String(64)),
    sa.Column("country", sa.String(8)),
    sa.Column("method", sa.String(8)),
    sa.Column("endpoint", sa.String(64)),
    sa.Column("model", sa.String(128)),
    sa.Column("stream", sa.Boolean, nullable=False, default=False),
    sa.Column("status", sa.Integer),
    sa.Column("tokens_in", sa.Integer),
    sa.Column("tokens_out", sa.Integer),
    sa.Column("decision", sa.String(32), nullable=False, index=True),
    sa.Column("reasons", sa.JSON, nullable=False, default=list),
    sa.Column("scores", sa.JSON, nullable=False, default=dict),
    sa.Column("latency_ms", sa.Float),
    # the admin token behind an admin action (decision "admin"); null for proxied calls (0007)
    sa.Column("actor", sa.String(128)),
    # the upstream key a keyed call went out under (``default``: upstream.key; 0011)
    sa.Column("upstream", sa.String(64)),
    sa.Index("ix_audit_events_key_ts", "key_id", "ts"),
    sa.Index("ix_audit_events_request_id", "request_id"),
)

# end-user enforcement (strikes, suspensions, bans; migration 0002)
end_users = sa.Table(
    "end_users",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("end_user", sa.String(256), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("until", sa.Float),
    sa.Column("reason", sa.String(256)),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("forgiven_at", sa.Float),
)

strikes = sa.Table(
    "strikes",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("end_user", sa.String(256), nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("reason", sa.String(256), nullable=False),
    sa.Column("categories", sa.JSON, nullable=False, default=list),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("request_id", sa.String(64)),
    sa.Index("ix_strikes_user_ts", "tenant", "end_user", "ts"),
)

enforcement_actions = sa.Table(
    "enforcement_actions",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("end_user", sa.String(256), nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("by", sa.String(128), nullable=False),
    sa.Column("reason", sa.String(256)),
    sa.Column("until", sa.Float),
    sa.Index("ix_enforcement_actions_user", "tenant", "end_user", "ts"),
)

webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("received_at", sa.Float, nullable=False),
)

# records the database refused, set aside so that they block no other (migration 0003)
audit_dead_letters = sa.Table(
    "audit_dead_letters",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("ts", sa.Float, nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),  # "audit" or "identity"
    sa.Column("request_id", sa.String(64), index=True),
    sa.Column("error", sa.String(128), nullable=False),
    sa.Column("record", sa.JSON, nullable=False),
)

# end users' acceptances of the content policy, one row per version (migration 0009)
policy_acceptances = sa.Table(
    "policy_acceptances",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("end_user", sa.String(256), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("accepted_at", sa.Float, nullable=False),
    sa.Column("by", sa.String(128), nullable=False),
)

# the scheduled upstream rotation's claim per upstream key: one rotator at a time (0011)
upstream_rotations = sa.Table(
    "upstream_rotations",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(128), nullable=False),
    sa.Column("lease_until", sa.Float, nullable=False),
    sa.Column("rotated_at", sa.Float),
)

# operators' notes on incidents (derived from the audit log: incidents/; migration 0010)
incident_notes = sa.Table(
    "incident_notes",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("incident_id", sa.String(64), nullable=False, index=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("by", sa.String(128), nullable=False),
    sa.Column("note", sa.String(2000), nullable=False),
)

# dashboard sessions ended before their expiry, for every worker (dashboard/; migration 0010):
# scope "session:<nonce>" (one sign-out) or "name:<admin token name>" (every session of that
# token issued at or before revoked_at)
admin_session_revocations = sa.Table(
    "admin_session_revocations",
    metadata,
    sa.Column("scope", sa.String(200), primary_key=True),
    sa.Column("revoked_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
)

# ids of Responses answers an output check withheld (a response, the conversation it was
# added to), so that no later call continues from them (checks/continuation.py; migration 0013).
# An id longer than the column, or not printable ASCII, is kept as its SHA-256.
withheld_ids = sa.Table(
    "withheld_ids",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("withheld_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
)

AUDIT_FIELDS = tuple(c.name for c in audit_events.columns if c.name != "id")
KEY_FIELDS = tuple(c.name for c in keys.columns)
IDENTITY_FIELDS = tuple(c.name for c in identities.columns)
DEAD_LETTER_FIELDS = tuple(c.name for c in audit_dead_letters.columns if c.name != "id")
