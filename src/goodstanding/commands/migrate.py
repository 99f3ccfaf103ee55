"""``goodstanding migrate`` — bring the database schema up to date (Alembic).

The one command that changes a PostgreSQL schema (``serve`` and ``demo`` migrate SQLite
themselves); every other command asks for it when the schema is behind.
"""

from __future__ import annotations

import argparse
import asyncio

from goodstanding.commands import add_config, settings_of, unreachable
from goodstanding.stores import open_store, outage


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)


def run(args: argparse.Namespace) -> int:
    url = settings_of(args).storage.database_url
    store = open_store(url)

    async def migrate() -> None:
        try:
            await store.migrate()
        except Exception as exc:
            if outage(exc):
                raise unreachable(url, exc) from exc
            raise
        finally:
            await store.close()

    asyncio.run(migrate())
    print(f"schema up to date ({url.split('://', 1)[0]})")
    return 0
