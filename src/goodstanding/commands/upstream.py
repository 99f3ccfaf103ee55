"""``goodstanding upstream list|rotate``: the named upstream keys (``upstream.keys``)."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

from goodstanding.commands import add_config, fail, print_json, settings_of
from goodstanding.credentials import rotation
from goodstanding.credentials.keyring import fingerprint
from goodstanding.errors import ConfigError
from goodstanding.settings import Settings, parse_duration
from goodstanding.stores import open_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="upstream keys: project, where kept, age, bound keys")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    rotate = sub.add_parser(
        "rotate", help="mint a new key through OpenAI's Admin API, switch to it, delete the old")
    rotate.add_argument("name", nargs="?", help="upstream key name (default: upstream.key)")
    rotate.add_argument("--due", action="store_true",
                        help="rotate every key older than its max_age (for a daily cron job)")
    rotate.add_argument("--drain", default="30s",
                        help="after the switch, how long requests in flight may take (30s)")
    for command in (listing, rotate):
        add_config(command)


def run(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    if args.action == "list":
        return _list(args, settings)
    return _rotate(args, settings)


def _rotate(args: argparse.Namespace, settings: Settings) -> int:
    if bool(args.name) == args.due:
        return fail("name one upstream key, or give --due", 2)
    drain = parse_duration(args.drain)
    names = rotation.due(settings, os.environ) if args.due else [args.name]
    if args.due and not names:
        print("no upstream key is due for rotation")
    for name in names:
        done = rotation.rotate(settings, name, os.environ, drain=drain)
        old = (f"deleted the old key {done.old_key_id}" if done.deleted else
               "the old key's id is unknown: delete it in OpenAI's dashboard")
        print(f"rotated upstream key {name}: now {done.new_key_id}; {old}")
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    usage = asyncio.run(_usage(settings))
    rows = []
    for name in ["default", *settings.upstream.keys]:
        entry = settings.upstream.entry(None if name == "default" else name)
        if entry is None or entry.key is None:
            continue
        rows.append({**_row(settings, name, entry), **usage.get(name, _EMPTY)})
    if args.json:
        print_json(rows)
        return 0
    print(f"{'NAME':<20} {'PROJECT':<20} {'KEPT IN':<10} {'KEY':<16} {'AGE':<6} "
          f"{'VIRTUAL KEYS':<13} {'CALLS 24H':<10} {'TOKENS 24H':<11} REFUSED 24H")
    for row in rows:
        age = "-" if row["age"] is None else f"{int(row['age'] // 86400)}d"
        print(f"{row['name']:<20} {row['project'] or '-':<20} {row['kept_in']:<10} "
              f"{row['fingerprint']:<16} {age:<6} {row['virtual_keys']:<13} "
              f"{row['calls_24h']:<10} {row['tokens_24h']:<11} {row['refused_24h']}")
    return 0


_EMPTY = {"virtual_keys": 0, "calls_24h": 0, "tokens_24h": 0, "refused_24h": 0}
USAGE_ROWS = 100_000  # audit records read per virtual key for the 24-hour figures


def _row(settings: Settings, name: str, entry: Any) -> dict[str, Any]:
    kind = entry.key.split(":", 1)[0] if ":" in entry.key else "env"
    try:
        value = settings.upstream_key(None if name == "default" else name)
    except ConfigError:
        value = None
    try:
        age = rotation.age(entry, name, os.environ)
    except ConfigError:
        age = None
    return {"name": name, "project": entry.project, "kept_in": kind,
            "fingerprint": fingerprint(value) if value else "(unset)", "age": age,
            "max_age": entry.max_age}


async def _usage(settings: Settings) -> dict[str, dict[str, int]]:
    """Per upstream key: virtual keys bound, and the last 24 hours of their audit records."""
    store = open_store(settings.storage.database_url)
    since = time.time() - 86400
    try:
        await store.migrate()
        usage: dict[str, dict[str, int]] = {}
        for key in await store.list_keys():
            row = usage.setdefault(key.upstream or "default", dict(_EMPTY))
            row["virtual_keys"] += key.revoked_at is None
            for record in await store.query_audit(key_id=key.id, since=since, limit=USAGE_ROWS):
                row["calls_24h"] += 1
                row["tokens_24h"] += (record.get("tokens_in") or 0) + \
                    (record.get("tokens_out") or 0)
                row["refused_24h"] += record.get("decision") == "refused"
        return usage
    finally:
        await store.close()
