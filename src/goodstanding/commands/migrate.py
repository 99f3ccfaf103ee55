"""``goodstanding migrate`` — bring the database schema up to date (Alembic)."""

from __future__ import annotations

import argparse
import asyncio

from goodstanding.commands import add_config, settings_of
from goodstanding.stores import open_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)


def run(args: argparse.Namespace) -> int:
    url = settings_of(args).storage.database_url
    store = open_store(url)

    async def migrate() -> None:
        try:
            await store.migrate()
        finally:
            await store.close()

    asyncio.run(migrate())
    print(f"schema up to date ({url.split('://', 1)[0]})")
    return 0
