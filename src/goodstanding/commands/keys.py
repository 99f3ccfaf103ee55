"""``goodstanding keys create|list|revoke|rotate|policy`` (SPEC §1, §2)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import re

from goodstanding.commands import add_config, fail, opened_store, print_json, settings_of
from goodstanding.commands.output import keys_table
from goodstanding.credentials import keys
from goodstanding.moderation.per_key import unapplied
from goodstanding.settings import KeyModeration, Settings, parse_duration
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


def _pair(kind: str) -> object:
    """argparse type for CATEGORY=VALUE (a threshold or a category's mode)."""

    def parse(text: str) -> tuple[str, str]:
        name, sep, value = text.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise argparse.ArgumentTypeError(f"give CATEGORY={kind}, e.g. violence="
                                             f"{'0.5' if kind == 'SCORE' else 'off'} (got {text!r})")
        return name.strip(), value.strip()

    return parse


def add_moderation_options(parser: argparse.ArgumentParser) -> None:
    """This key's moderation overrides (SPEC §2); what is not given is the gateway's."""
    group = parser.add_argument_group("moderation for this key (unset: the gateway's settings)")
    group.add_argument("--moderation-input", choices=("block", "flag", "off"),
                       help="this key's requests: block a flagged one, flag it only, or off")
    group.add_argument("--moderation-output", choices=("block", "flag", "off"),
                       help="this key's answers: block (withhold) a flagged one, flag, or off")
    group.add_argument("--moderation-on-error", choices=("fail_closed", "fail_open", "local"),
                       help="moderation unreachable: refuse (fail_closed), let the call through "
                            "(fail_open) or judge with the local detectors (local)")
    group.add_argument("--moderation-threshold", action="append", default=[], type=_pair("SCORE"),
                       metavar="CATEGORY=SCORE",
                       help="score (0-1) from which CATEGORY counts as flagged for this key "
                            "(repeatable), e.g. violence=0.7")
    group.add_argument("--moderation-category", action="append", default=[], type=_pair("MODE"),
                       metavar="CATEGORY=MODE",
                       help="block or off: a category switched off is never flagged for this "
                            "key (repeatable; a zero-tolerance category stays on)")


def moderation_override(args: argparse.Namespace) -> dict[str, object]:
    """The overrides given on the command line, validated; {} when none was given."""
    given: dict[str, object] = {
        name: value for name, value in (("input", args.moderation_input),
                                        ("output", args.moderation_output),
                                        ("on_error", args.moderation_on_error)) if value}
    if args.moderation_threshold:
        given["thresholds"] = dict(args.moderation_threshold)
    if args.moderation_category:
        given["categories"] = dict(args.moderation_category)
    if not given:
        return {}
    try:
        checked = KeyModeration.model_validate(given)
    except ValueError as exc:  # pydantic's ValidationError: one line per bad field
        raise ValueError(_validation_text(exc)) from None
    override = checked.model_dump(mode="json", exclude_unset=True)
    reason = unapplied(args.settings.moderation, override)
    if reason is not None:
        raise ValueError(reason)
    return override


def _validation_text(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    return "; ".join(_where(e["loc"]) + e["msg"].removeprefix("Value error, ")
                     for e in errors())


def _where(loc: tuple[object, ...]) -> str:
    # a whole-model check names its field in its message; a field check has a location
    return f"moderation.{'.'.join(str(p) for p in loc)}: " if loc else "moderation."


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
    add_moderation_options(create)
    policy = sub.add_parser(
        "policy", help="show a key's policy overrides, or change its moderation (SPEC §2)")
    policy.add_argument("id", metavar="ID", help="the key's id, as `keys list` shows it")
    add_moderation_options(policy)
    policy.add_argument("--reset-moderation", action="store_true",
                        help="drop the key's moderation overrides (the gateway's settings apply)")
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
    for command in (create, listing, revoke, rotate, policy):
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
    policy: dict[str, object] = {} if args.end_user_ip else {"end_user_ip": False}
    try:
        moderation = moderation_override(args)
        if moderation:
            policy["moderation"] = moderation
        key, token = await keys.create_key(
            store, args.name, rpm=args.rpm, tpm=args.tpm, upstream=args.upstream,
            trust_tier=args.tier, origins=tuple(args.origin), models=tuple(args.model),
            policy=policy or None, keyring=args.settings.keyring)
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


async def _policy(args: argparse.Namespace, store: Store) -> int:
    key = await store.get_key(args.id)
    if key is None:
        return fail(f"no key with id {args.id}")
    try:
        moderation = moderation_override(args)
    except ValueError as exc:
        return fail(str(exc), 2)
    policy = dict(key.policy)
    if args.reset_moderation:
        policy.pop("moderation", None)
    if moderation:  # only what was given changes; the key's other overrides stay
        policy["moderation"] = _merged(policy.get("moderation") or {}, moderation)
    if policy != key.policy:
        await store.update_key(key.id, policy=policy)
        await _announce(args.settings, key.id)  # running gateways reload the key
    if args.json:
        print_json({"id": key.id, "policy": policy})
    else:
        print(f"key {key.id} ({key.name}) policy overrides: "
              f"{json.dumps(policy, sort_keys=True) if policy else 'none (the gateway settings)'}")
    return 0


def _merged(old: dict[str, object], new: dict[str, object]) -> dict[str, object]:
    out = dict(old)
    for name, value in new.items():
        if isinstance(value, dict) and isinstance(out.get(name), dict):
            out[name] = {**out[name], **value}  # type: ignore[dict-item]
        else:
            out[name] = value
    return out


ACTIONS = {"create": _create, "list": _list, "revoke": _revoke, "rotate": _rotate,
           "policy": _policy}
