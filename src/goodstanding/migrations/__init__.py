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
