"""``goodstanding incidents list|resolve`` — incidents derived from the audit log (moderation,
store or OpenAI unavailable, quota exhausted, enforcement notices, alerts) and the operator's
record of how each was resolved (``goodstanding.incidents``; the report lists the same)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from goodstanding.commands import (
    add_config,
    fail,
    opened_store,
    operator_name,
    print_json,
    settings_of,
)
from goodstanding.commands.output import table, when
from goodstanding.settings import parse_duration


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="incidents of a period, newest first, with their "
                                          "resolution")
    listing.add_argument("--since", default="30d",
                         help="the period: this long before now (30d, 24h, 90m)")
    listing.add_argument("--status", choices=("open", "resolved"),
                         help="only incidents in this state (default: every state)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    resolve = sub.add_parser("resolve", help="record how an incident was resolved (what was "
                                             "changed); this resolves it")
    resolve.add_argument("id", metavar="ID", help="the incident's id (inc-N, from list)")
    resolve.add_argument("--note", required=True,
                         help="what was changed, for the record (and the report)")
    resolve.add_argument("--by", default=operator_name(), metavar="NAME",
                         help="who resolved it, for the record (default: the OS user)")
    for command in (listing, resolve):
        add_config(command)


def run(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    if args.action == "resolve":
        return asyncio.run(_resolve(args, settings))
    try:
        span = parse_duration(args.since)
    except ValueError:
        return fail(f"--since {args.since!r}: write a duration such as 30d or 24h", 2)
    return asyncio.run(_list(args, settings, time.time() - span))


async def _list(args: argparse.Namespace, settings: Any, since: float) -> int:
    from goodstanding.incidents import alert_every, list_incidents
    from goodstanding.report.html import resolution_text

    async with opened_store(settings) as store:
        found = await list_incidents(store, since, alert_every=alert_every(settings))
    rows = [i.to_dict() for i in reversed(found) if not args.status or i.status == args.status]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("no incident in the period", file=sys.stderr)
        return 0
    for row in rows:
        row["opened"], row["last"] = when(row["opened_at"]), when(row["last_seen"])
        row["resolution"] = resolution_text(row)
    table(rows, [("id", "ID"), ("title", "INCIDENT"), ("opened", "OPENED"),
                 ("last", "LAST SEEN"), ("requests", "REQUESTS"), ("refused", "REFUSED"),
                 ("passed", "PASSED"), ("status", "STATUS"), ("resolution", "RESOLUTION")])
    return 0


async def _resolve(args: argparse.Namespace, settings: Any) -> int:
    from goodstanding.incidents import UnknownIncident, resolve

    async with opened_store(settings) as store:
        try:
            note = await resolve(store, args.id, args.by, args.note)
        except UnknownIncident as exc:
            return fail(str(exc), 1)
        except ValueError as exc:
            return fail(f"--note: {exc}", 2)
    print(f"{note.incident_id}: resolution recorded by {note.by} at {when(note.at)}")
    return 0
