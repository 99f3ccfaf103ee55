"""Canonical end-user ids, again: the identity rules now fold the Turkish capital ``İ`` to
``i`` and read the blank Braille cell (U+2800) as a space (``endusers/identity.py``).

An id stored under the earlier rules (``josé ali̇ce``, ``josé⠀alice``) would no longer be
found for a request naming it, and a banned end user would be back in under the new
spelling. This runs 0005's rewrite once more with the current rules: same merge (the most
severe standing wins), same tables, ``audit_events`` left as recorded. Ids that the new rules
leave unchanged (nearly all) cost one read each.

Revision ID: 0012
Revises: 0011
"""

import importlib.util
from pathlib import Path

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # the rewrite itself lives in 0005 (it canonicalises with whatever the rules are now)
    path = Path(__file__).with_name("0005_canonical_end_users.py")
    spec = importlib.util.spec_from_file_location("_gs_migration_0005", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.upgrade()


def downgrade() -> None:
    pass  # the earlier spellings are not kept
