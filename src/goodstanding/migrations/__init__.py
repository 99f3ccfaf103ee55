"""Alembic migrations, shipped inside the package so `goodstanding migrate` works anywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def upgrade(connection: Any) -> None:
    """Bring the schema on this (sync) connection up to head."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def behind(connection: Any) -> str | None:
    """Why the schema on this connection is not at head, or None when it is."""
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(HERE))
    head = ScriptDirectory.from_config(config).get_current_head()
    current = MigrationContext.configure(connection).get_current_revision()
    if current == head:
        return None
    return (f"the database schema is at {current or 'nothing'}, this version needs {head}: "
            "run `goodstanding migrate` first")
