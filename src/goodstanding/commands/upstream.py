"""``goodstanding upstream list|show|rotate``: the upstream keys (``upstream.key`` and
``upstream.keys``), their usage, signals and standing (``upstream_standing.py``), rotation."""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from goodstanding.commands import add_config, fail, opened_store, print_json, settings_of
from goodstanding.credentials import rotation, upstream_standing
from goodstanding.settings import Settings, parse_duration


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = sub.add_parser(
        "list", help="upstream keys: project, where kept, age, bound keys, 24 h usage and "
                     "signals, standing (worst first)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    show = sub.add_parser("show", help="one upstream key: usage, signals and standing over the "
                                       "last hour, 24 hours and 7 days")
    show.add_argument("name", help="upstream key name (default: upstream.key)")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    rotate = sub.add_parser(
        "rotate", help="mint a new key through OpenAI's Admin API, switch to it, delete the old")
    rotate.add_argument("name", nargs="?", help="upstream key name (default: upstream.key)")
    rotate.add_argument("--due", action="store_true",
                        help="rotate every key older than its max_age (for a daily cron job)")
    rotate.add_argument("--drain", default="30s",
                        help="after the switch, how long requests in flight may take (30s)")
    for command in (listing, show, rotate):
        add_config(command)


def run(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    if args.action == "rotate":
        return _rotate(args, settings)
    rows = asyncio.run(_views(settings))
    if args.action == "show":
        return _show(args, rows)
    if args.json:
        print_json(rows)
        return 0
    _table(rows)
    return 0


async def _views(settings: Settings) -> list[dict[str, Any]]:
    async with opened_store(settings) as store:
        return await upstream_standing.views(settings, store)


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


COLUMNS = (("NAME", 16), ("PROJECT", 14), ("KEPT IN", 8), ("KEY", 15), ("AGE", 9),
           ("VKEYS", 6), ("CALLS 24H", 10), ("REFUSED", 8), ("FLAGGED", 8), ("STRIKES", 8),
           ("POLICY", 7), ("429", 5), ("QUOTA", 6), ("NOTICES", 8), ("STANDING", 0))


def _table(rows: list[dict[str, Any]]) -> None:
    print(" ".join(f"{title:<{width}}" for title, width in COLUMNS).rstrip())
    for row in rows:
        day = row["windows"]["24h"]
        cells = (row["name"], row.get("project") or "-", row.get("kept_in") or "-",
                 row.get("fingerprint") or "(removed)", _age(row), row["virtual_keys"],
                 day["requests"], day["refusals"], day["flagged"], day["strikes"],
                 day["upstream_policy"], day["upstream_429"], day["insufficient_quota"],
                 day.get("enforcement_notices", 0), f"{row['score']:g} {row['level']}")
        print(" ".join(f"{c!s:<{w}}" for c, (_, w) in zip(cells, COLUMNS, strict=True)))
    print("24 h figures; POLICY: OpenAI's policy refusals, QUOTA: insufficient_quota, "
          "NOTICES: OpenAI enforcement notices naming the key's project. "
          "`goodstanding upstream show NAME` for one key's signals.")


def _age(row: dict[str, Any]) -> str:
    if row.get("age") is None:
        return "-"
    text = f"{int(row['age'] // 86400)}d"
    return f"{text} due!" if row.get("nearing_rotation") else text


def _show(args: argparse.Namespace, rows: list[dict[str, Any]]) -> int:
    row = next((r for r in rows if r["name"] == args.name), None)
    if row is None:
        known = ", ".join(r["name"] for r in rows) or "none"
        return fail(f"no upstream key named '{args.name}' (known: {known})", 2)
    if args.json:
        print_json(row)
        return 0
    print(f"upstream key {row['name']}: standing {row['score']:g} ({row['level']})")
    if row["configured"]:
        due = row.get("rotation_due_in")
        print(f"  project {row['project'] or '-'}, kept in {row['kept_in']}, key "
              f"{row['fingerprint']}, age {_age(row)}"
              + ("" if due is None else f", max age reached in {due / 86400:.1f} days"))
    else:
        print("  no longer configured (seen in the audit log)")
    print(f"  virtual keys bound: {row['virtual_keys']}")
    names = [n for n in upstream_standing.WindowCounts.__dataclass_fields__
             if n not in ("window", "signals", "level")]
    print(f"  {'':<20}" + "".join(f"{w:>10}" for w in row["windows"]))
    for name in names:
        print(f"  {name:<20}" + "".join(f"{row['windows'][w][name]:>10}"
                                        for w in row["windows"]))
    signals = row["windows"]["7d"]["signals"]
    if signals:
        print("  signals (7 days): " + ", ".join(
            f"{s} {c}" for s, c in sorted(signals.items(), key=lambda i: -i[1])))
    else:
        print("  no signal in the last 7 days")
    return 0
