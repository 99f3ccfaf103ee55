"""``goodstanding users lookup`` — which end user a safety identifier belongs to."""

from __future__ import annotations

import argparse
import asyncio

from goodstanding.commands import add_config, fail, print_json, settings_of
from goodstanding.stores import open_store
from goodstanding.stores.base import Store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    lookup = sub.add_parser("lookup", help="the end user behind a safety identifier OpenAI named")
    lookup.add_argument("safety_identifier")
    for command in (lookup,):
        add_config(command)
        command.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    store = open_store(settings_of(args).storage.database_url)
    return asyncio.run(_run(args, store))


async def _run(args: argparse.Namespace, store: Store) -> int:
    try:
        await store.migrate()
        return await ACTIONS[args.action](args, store)
    finally:
        await store.close()


async def _lookup(args: argparse.Namespace, store: Store) -> int:
    identity = await store.lookup_identity(args.safety_identifier.strip())
    if identity is None:
        return fail("no end user is known under that safety identifier")
    document = {"safety_identifier": identity.safety_identifier, "tenant": identity.tenant,
                "end_user": identity.end_user, "first_seen": identity.first_seen}
    if args.json:
        print_json(document)
    else:
        print(f"end user {identity.end_user!r} of tenant {identity.tenant!r}")
    return 0


ACTIONS = {"lookup": _lookup}
