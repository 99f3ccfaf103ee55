"""``goodstanding keys create|list|revoke|rotate`` (SPEC §1)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re

from goodstanding.commands import add_config, fail, opened_store, print_json, settings_of
from goodstanding.commands.output import keys_table
from goodstanding.credentials import keys
from goodstanding.settings import Settings, parse_duration
from goodstanding.stores.base import Store

_HAS_UNIT = re.compile(r"^\s*(0|\d+(\.\d+)?\s*(ms|s|m|h|d))\s*$")


def positive(text: str) -> int:
    """argparse type for --rpm/--tpm: a positive whole number."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    try:
        keys.check_limit("limit", value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a positive whole number (got {value}); leave it out for no per-key "
            "limit") from None
    return value


def grace(text: str) -> float:
    """--grace: a duration with its unit (24h, 30m, 90s; 0 = at once)."""
    if not _HAS_UNIT.match(text):
        raise argparse.ArgumentTypeError(
            f"give --grace a unit, e.g. 24h, 30m or 90s (got {text!r})")
    return parse_duration(text)


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = sub.add_parser("create", help="create a key and print it once")
    create.add_argument("name", help="key name; also the tenant its end users belong to")
    create.add_argument("--rpm", type=positive, help="requests per minute for this key")
    create.add_argument("--tpm", type=positive, help="tokens per minute for this key")
    create.add_argument("--upstream", metavar="NAME", help="named upstream key (upstream.keys)")
    create.add_argument("--tier", choices=("anonymous", "verified", "kyc"), default="anonymous",
                        help="trust tier of this key's end users")
    create.add_argument("--end-user-ip", action=argparse.BooleanOptionalAction, default=True,
                        help="may the key holder name the end user's IP (X-End-User-IP or "
                             "end_user_ip)? Yes for a backend's key (default); "
                             "--no-end-user-ip for a key that browsers or apps hold")
    create.add_argument("--origin", action="append", default=[], metavar="ORIGIN",
                        help="limit the key to this browser origin (repeatable), e.g. "
                             "https://app.example.com; other origins get 403")
    create.add_argument("--model", action="append", default=[], metavar="MODEL",
                        help="limit the key to this model (repeatable); others get 403")
    listing = sub.add_parser("list", help="list keys (never their secrets)")
    revoke = sub.add_parser(
        "revoke", help="revoke a key at once: running gateways are told (over Redis, or a "
        "marker file beside the SQLite database); with PostgreSQL and no Redis, within 2 s")
    revoke.add_argument("id", metavar="ID", help="the key's id, as `keys list` shows it")
    rotate = sub.add_parser("rotate", help="issue a replacement; the old key lives on for --grace")
    rotate.add_argument("id", metavar="ID", help="the id of the key to replace (`keys list`)")
    rotate.add_argument("--grace", default="24h", type=grace,
                        help="how long the old key keeps working, with a unit: 24h (default), "
                             "30m, 90s; 0 = stop it at once")
    for command in (create, listing, revoke, rotate):
        add_config(command)
        command.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    args.settings = settings
    return asyncio.run(_run(args, settings))


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    # PostgreSQL: the schema must be migrated already (`goodstanding migrate`)
    async with opened_store(settings) as store:
        return await ACTIONS[args.action](args, store)


async def _announce(settings: Settings, key_id: str) -> str:
    return await keys.announce(key_id, settings.storage.database_url, settings.storage.redis_url)


async def _create(args: argparse.Namespace, store: Store) -> int:
    try:
        key, token = await keys.create_key(
            store, args.name, rpm=args.rpm, tpm=args.tpm, upstream=args.upstream,
            trust_tier=args.tier, origins=tuple(args.origin), models=tuple(args.model),
            policy=None if args.end_user_ip else {"end_user_ip": False},
            keyring=args.settings.keyring)
    except ValueError as exc:
        return fail(str(exc), 2)
    if args.json:
        print_json({"id": key.id, "name": key.name, "key": token})
    else:
        print(f"created key {key.id} ({key.name}). It is shown only this once:\n{token}")
    return 0



async def _list(args: argparse.Namespace, store: Store) -> int:
    policy = args.settings.keys
    rows = await keys.describe_all(store, max_age=parse_duration(policy.max_age),
                                   warn_before=parse_duration(policy.warn_before))
    if args.json:
        print_json(rows)
        return 0
    keys_table(rows)
    return 0




async def _revoke(args: argparse.Namespace, store: Store) -> int:
    if not await keys.revoke_key(store, args.id):
        return fail(f"no key with id {args.id}")
    how = await _announce(args.settings, args.id)
    if args.json:
        print_json({"id": args.id, "revoked": True})
    else:
        print(f"revoked key {args.id}: {how}")
    return 0


async def _rotate(args: argparse.Namespace, store: Store) -> int:
    rotated = await keys.rotate_key(store, args.id, args.grace)
    if rotated is None:
        return fail(f"no active key with id {args.id}")
    key, token = rotated
    old = await store.get_key(args.id)
    expires = old.expires_at if old else None
    await _announce(args.settings, args.id)
    if args.json:
        print_json({"id": key.id, "name": key.name, "key": token, "replaces": args.id,
                    "old_key_expires_at": expires})
    else:
        print(f"new key {key.id} replaces {args.id}, which keeps working until "
              f"{when(expires)} and is refused after. It is shown only this once:\n{token}")
    return 0


ACTIONS = {"create": _create, "list": _list, "revoke": _revoke, "rotate": _rotate}
