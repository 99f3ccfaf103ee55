"""``goodstanding secrets set|list|delete NAME``: the encrypted local store (``secret:NAME``).

Values are read from standard input (a hidden prompt on a terminal), never from the command
line, where they would land in the shell history and the process list.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import os
import sys

from goodstanding.commands import fail, print_json
from goodstanding.credentials.secretstore import SecretStore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Secrets encrypted at rest (AES-256-GCM) with a key derived from GOODSTANDING_MASTER_KEY,"
        " in GOODSTANDING_SECRETS_FILE (default ./goodstanding.secrets). Reference one in the "
        "configuration as secret:NAME, e.g. upstream: {keys: {team-a: secret:team-a}}.")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    put = sub.add_parser("set", help="store a secret read from standard input")
    put.add_argument("name", metavar="NAME", help="the secret's name, as secret:NAME references it")
    listing = sub.add_parser("list", help="the stored names (never their values)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    delete = sub.add_parser("delete", help="remove a secret")
    delete.add_argument("name", metavar="NAME", help="the name of the secret to delete")


def run(args: argparse.Namespace) -> int:
    store = SecretStore.from_env(os.environ)
    return ACTIONS[args.action](args, store)


def _set(args: argparse.Namespace, store: SecretStore) -> int:
    if sys.stdin.isatty():
        value = getpass.getpass(f"value of {args.name} (not shown): ")
    else:
        value = sys.stdin.read().strip()
    if not value:
        return fail("no value given on standard input", 2)
    store.put(args.name, value)
    print(f"stored secret {args.name} in {store.path}; reference it as secret:{args.name}")
    return 0


def _list(args: argparse.Namespace, store: SecretStore) -> int:
    names = store.names()
    if args.json:
        print_json([{"name": name, **meta} for name, meta in sorted(names.items())])
        return 0
    if not names:
        print(f"no secrets in {store.path}: goodstanding secrets set NAME")
        return 0
    print(f"{'NAME':<32} UPDATED")
    for name, meta in sorted(names.items()):
        updated = dt.datetime.fromtimestamp(meta["updated_at"], dt.UTC)
        print(f"{name:<32} {updated:%Y-%m-%d %H:%M:%S} UTC")
    return 0


def _delete(args: argparse.Namespace, store: SecretStore) -> int:
    if not store.delete(args.name):
        return fail(f"no secret named {args.name}")
    print(f"deleted secret {args.name}")
    return 0


ACTIONS = {"set": _set, "list": _list, "delete": _delete}
