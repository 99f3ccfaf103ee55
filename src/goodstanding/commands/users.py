"""``goodstanding users list|show|ban|unban|reset|lookup|accept`` (SPEC §1).

End users belong to a tenant (the name of the key they came through). ``--tenant`` picks it;
without it the only tenant there is is used, and a database with several asks for it.
End-user ids are canonicalised exactly as the gateway does it (``endusers/identity.py``: case,
Unicode form, whitespace, invisible characters), so any spelling names the one end user.
Operator actions are recorded with who did them (``--by``, default the OS user). With
``GOODSTANDING_REDIS_URL`` set, a ban, unban or reset is announced on the gateways' standing
channel, so running gateways apply it at once; without Redis, within their cache's few seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
from goodstanding.endusers.identity import (
    AmbiguousIdentifier,
    canonical_end_user,
    find_identity,
    stored_end_user,
)
from goodstanding.enforcement.enforcer import Enforcer, StrikePolicy
from goodstanding.enforcement.standing import Standing
from goodstanding.policy.acceptance import record_acceptance
from goodstanding.settings import Settings
from goodstanding.stores.base import Acceptance, Store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="end users with strikes or actions, newest first")
    listing.add_argument("--status", choices=("active", "suspended", "banned"),
                         help="only end users in this standing now (default: every standing)")
    listing.add_argument("--limit", type=int, default=1000,
                         help="at most this many end users, the most recently changed first")
    show = sub.add_parser("show", help="an end user's standing, strike history and actions")
    ban = sub.add_parser("ban", help="ban an end user now")
    unban = sub.add_parser("unban", help="lift a ban or suspension; earlier strikes are forgiven")
    reset = sub.add_parser("reset", help="delete an end user's strikes and make them active")
    for command in (show, ban, unban, reset):
        command.add_argument("id", metavar="ID", help="the end-user id the application sends")
    for command in (ban, unban, reset):
        command.add_argument("--by", default=operator_name(), metavar="NAME",
                             help="who is doing this, for the record (default: the OS user)")
    for command in (ban, unban):
        command.add_argument("--reason", help="why, for the record")
    lookup = sub.add_parser("lookup", help="the end user behind a safety identifier OpenAI named")
    lookup.add_argument("safety_identifier", metavar="SAFETY_IDENTIFIER",
                        help="the safety_identifier OpenAI quoted (a hex digest), or its "
                        "first 16 or more digits, as logs and alerts name an end user")
    accept = sub.add_parser("accept", help="record that an end user accepted the content policy")
    accept.add_argument("id", metavar="ID", help="the end-user id the application sends")
    accept.add_argument("--version", type=int, metavar="N",
                        help="the policy version accepted (default: policy.version)")
    accept.add_argument("--by", default=operator_name(), metavar="NAME",
                        help="who is recording this (default: the OS user)")
    for command in (listing, show, ban, unban, reset, accept):
        command.add_argument("--tenant", help="the tenant (key name); needed when there are "
                                              "several (default: the only one there is; "
                                              "list: every tenant)")
    for command in (listing, show, ban, unban, reset, lookup, accept):
        add_config(command)
        command.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "id", None) is not None:
        # the gateway's own canonicalisation: `users ban " José Alice"` bans `josé alice`,
        # whatever spelling the application sends
        try:
            args.id = canonical_end_user(args.id)
        except ValueError as exc:
            return fail(f"invalid end-user id: {exc}", 2)
        if not args.id:
            return fail("the end-user id is empty once canonicalised", 2)
    settings = settings_of(args)
    return asyncio.run(_run(args, settings))


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    # PostgreSQL: the schema must be migrated already (`goodstanding migrate`)
    async with opened_store(settings) as store:
        return await ACTIONS[args.action](args, store, settings)


async def _tenants(store: Store) -> list[str]:
    return sorted({key.tenant for key in await store.list_keys()})


async def _tenant(args: argparse.Namespace, store: Store) -> str | None:
    """The tenant named, with a warning when no key has it; else the only one there is."""
    tenants = await _tenants(store)
    if args.tenant:
        _warn_unknown(str(args.tenant), tenants)
        return str(args.tenant)
    if len(tenants) == 1:
        return tenants[0]
    args.known_tenants = tenants
    return None


def _warn_unknown(tenant: str, tenants: list[str]) -> None:
    if tenant not in tenants:
        known = ", ".join(tenants) if tenants else "none yet"
        print(f"goodstanding: warning: no key has tenant {tenant!r} (known tenants: {known})",
              file=sys.stderr)


@asynccontextmanager
async def _enforcer(store: Store, settings: Settings) -> AsyncIterator[Enforcer]:
    """An Enforcer whose changes reach running gateways (published on Redis when shared)."""
    url = settings.storage.redis_url
    if not url:
        yield Enforcer(store, secret=settings.identity.secret)
        return
    from goodstanding.stores.standing_redis import StandingPublisher

    publisher = StandingPublisher(url)
    try:
        yield Enforcer(store, publisher, secret=settings.identity.secret)
    finally:
        await publisher.close()


def _no_tenant(args: argparse.Namespace) -> int:
    tenants = getattr(args, "known_tenants", [])
    if not tenants:
        return fail("no tenants yet (a tenant is a key's name): create a key with "
                    "`goodstanding keys create NAME`, or pass --tenant", 2)
    return fail(f"pass --tenant: the database has {len(tenants)} tenants: "
                f"{', '.join(tenants)}", 2)


_when = when


def _describe(standing: Standing, now: float) -> dict[str, Any]:
    return {"tenant": standing.tenant, "end_user": standing.end_user,
            "status": standing.effective(now), "until": standing.until,
            "reason": standing.reason, "updated_at": standing.updated_at}


async def _list(args: argparse.Namespace, store: Store, settings: Settings) -> int:
    now = time.time()
    if args.tenant:
        _warn_unknown(args.tenant, await _tenants(store))
    everyone = await store.list_standings(tenant=args.tenant, limit=args.limit)
    # an expired suspension is stored as "suspended" but is active: filter on the effective one
    chosen = [s for s in everyone if not args.status or s.effective(now) == args.status]
    window = StrikePolicy.of(settings.strikes).window
    rows = []
    for standing in chosen:
        strikes = await store.strikes_of(standing.tenant, standing.end_user)
        since = max(now - window, standing.forgiven_at or 0)
        rows.append({**_describe(standing, now),
                     "strikes": sum(1 for s in strikes if s.ts >= since)})
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print(_nobody(args, len(everyone)))
        return 0
    table([{**r, "until": _when(r["until"]) if r["status"] == "suspended" else "",
            "updated_at": _when(r["updated_at"])} for r in rows],
          [("tenant", "TENANT"), ("end_user", "END USER"), ("status", "STATUS"),
           ("strikes", "STRIKES"), ("until", "SUSPENDED UNTIL"),
           ("reason", "LAST REASON"), ("updated_at", "LAST CHANGE")])
    print(f"\nSTRIKES: strikes counting now (within strikes.window, {settings.strikes.window}, "
          "since the last unban)")
    return 0


def _nobody(args: argparse.Namespace, others: int) -> str:
    where = f" of tenant {args.tenant!r}" if args.tenant else ""
    if not args.status:
        return f"no end users{where} with strikes or actions yet"
    if not others:
        return f"no {args.status} end users{where}: none has strikes or actions yet"
    return (f"no {args.status} end users{where} ({others} end users with strikes or actions, "
            f"none {args.status} now)")


async def _show(args: argparse.Namespace, store: Store, settings: Settings) -> int:
    tenant = await _tenant(args, store)
    if tenant is None:
        return _no_tenant(args)
    now = time.time()
    standing = await store.get_standing(tenant, args.id)
    strikes = await store.strikes_of(tenant, args.id)
    accepted = await store.get_acceptance(tenant, args.id)
    if standing is None and not strikes and accepted is None:
        return fail(f"no strikes or actions for end user {args.id!r} of tenant {tenant!r}")
    standing = standing or Standing(tenant, args.id)
    since = now - StrikePolicy.of(settings.strikes).window
    since = max(since, standing.forgiven_at or since)
    document = {
        **_describe(standing, now),
        "strikes_counting": sum(1 for s in strikes if s.ts >= since),
        # reasons and categories only: the gateway never stores what the user wrote
        "strikes": [{"ts": s.ts, "reason": s.reason, "categories": list(s.categories),
                     "source": s.source, "request_id": s.request_id} for s in strikes],
        "actions": [{"ts": a.ts, "action": a.action, "by": a.by, "reason": a.reason,
                     "until": a.until} for a in await store.actions_of(tenant, args.id)],
        "policy": {"current_version": settings.policy.version,
                   "accepted_version": accepted.version if accepted else None,
                   "accepted_at": accepted.accepted_at if accepted else None,
                   "accepted_by": accepted.by if accepted else None},
    }
    if args.json:
        print_json(document)
        return 0
    until = f" until {_when(standing.until)}" if document["status"] == "suspended" else ""
    print(f"end user {args.id!r} of tenant {tenant!r}: {document['status']}{until}")
    print(f"strikes counting now: {document['strikes_counting']} (within strikes.window, "
          f"{settings.strikes.window}, since the last unban)")
    print(f"content policy: {_accepted(accepted, settings.policy.version)}\n")
    if document["strikes"]:
        table([{**s, "ts": _when(s["ts"]), "source": SOURCES.get(s["source"], s["source"])}
               for s in document["strikes"]],
              [("ts", "STRIKE AT"), ("reason", "REASON"), ("categories", "CATEGORIES"),
               ("source", "FOUND BY"), ("request_id", "REQUEST ID")])
        print()
    if document["actions"]:
        table([{**a, "ts": _when(a["ts"]), "until": _when(a["until"]) if a["until"] else ""}
               for a in document["actions"]],
              [("ts", "ACTION AT"), ("action", "ACTION"), ("by", "BY"), ("reason", "REASON"),
               ("until", "UNTIL")])
    return 0


# where a strike came from, in words
SOURCES = {"request": "gateway check of a request", "webhook": "OpenAI webhook"}


async def _ban(args: argparse.Namespace, store: Store, settings: Settings) -> int:
    tenant = await _tenant(args, store)
    if tenant is None:
        return _no_tenant(args)
    async with _enforcer(store, settings) as enforcer:
        standing = await enforcer.ban(tenant, args.id, args.reason or "banned by an operator",
                                      args.by)
    return _done(args, standing, f"banned end user {args.id!r} of tenant {tenant!r}")


async def _unban(args: argparse.Namespace, store: Store, settings: Settings) -> int:
    tenant = await _tenant(args, store)
    if tenant is None:
        return _no_tenant(args)
    async with _enforcer(store, settings) as enforcer:
        standing = await enforcer.unban(tenant, args.id, args.by, args.reason)
    if standing is None:
        return fail(f"end user {args.id!r} of tenant {tenant!r} has no standing to lift")
    return _done(args, standing, f"unbanned end user {args.id!r} of tenant {tenant!r}")


async def _reset(args: argparse.Namespace, store: Store, settings: Settings) -> int:
    tenant = await _tenant(args, store)
    if tenant is None:
        return _no_tenant(args)
    async with _enforcer(store, settings) as enforcer:
        removed = await enforcer.reset(tenant, args.id, args.by)
    if args.json:
        print_json({"tenant": tenant, "end_user": args.id, "status": "active",
                    "strikes_removed": removed})
    else:
        print(f"reset end user {args.id!r} of tenant {tenant!r}: {removed} strikes removed")
    return 0


def _accepted(accepted: Acceptance | None, current: int) -> str:
    if accepted is None:
        return f"not accepted (current version {current})"
    return (f"version {accepted.version} accepted {_when(accepted.accepted_at)} by "
            f"{accepted.by} (current version {current})")


async def _accept(args: argparse.Namespace, store: Store, settings: Settings) -> int:
    tenant = await _tenant(args, store)
    if tenant is None:
        return _no_tenant()
    version = settings.policy.version if args.version is None else args.version
    try:
        acceptance = await record_acceptance(store, tenant, args.id, version, f"cli:{args.by}")
    except ValueError as exc:
        return fail(str(exc), 2)
    if args.json:
        print_json({"tenant": tenant, "end_user": acceptance.end_user,
                    "version": acceptance.version, "accepted_at": acceptance.accepted_at,
                    "by": acceptance.by})
    else:
        print(f"end user {args.id!r} of tenant {tenant!r} accepted version {version} of the "
              f"content policy (recorded as said by {args.by})")
    return 0


def _done(args: argparse.Namespace, standing: Standing, message: str) -> int:
    if args.json:
        print_json({**_describe(standing, time.time()), "by": args.by})
    else:
        print(f"{message} (recorded as done by {args.by})")
    return 0


async def _lookup(args: argparse.Namespace, store: Store, settings: Settings) -> int:
    try:
        identity = await find_identity(store, args.safety_identifier)
    except AmbiguousIdentifier as exc:
        return fail(str(exc))
    if identity is None:
        return fail("no end user is known under that safety identifier")
    end_user = stored_end_user(identity.end_user)
    document = {"safety_identifier": identity.safety_identifier, "tenant": identity.tenant,
                "end_user": end_user, "first_seen": identity.first_seen}
    if args.json:
        print_json(document)
    else:
        print(f"end user {end_user!r} of tenant {identity.tenant!r}")
    return 0


ACTIONS = {"list": _list, "show": _show, "ban": _ban, "unban": _unban, "reset": _reset,
           "lookup": _lookup, "accept": _accept}
