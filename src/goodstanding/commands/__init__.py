"""Sub-commands of the ``goodstanding`` CLI; each module has ``add_arguments`` and ``run``.

Shared here: the ``--config`` option, opening the store the way every command must (only
``migrate``, and ``serve``/``demo`` on SQLite, change the schema), listening on a port, and the
one-line explanations of a command's expected failures (``OperatorError``, printed by cli.py).
"""

from __future__ import annotations

import argparse
import errno
import getpass
import json
import re
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from goodstanding.errors import ConfigError, OperatorError
from goodstanding.settings import Settings, load_settings
from goodstanding.stores.base import Store

_CREDENTIALS = re.compile(r"(//[^/:@]*:)[^@/]*@")


def operator_name() -> str:
    """Who runs the command, for the records an operator's action writes (``--by``)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown-operator"


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE",
                        help="YAML settings file (default: $GOODSTANDING_CONFIG, else built-in "
                             "defaults and the environment)")


def settings_of(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None))


def print_json(document: Any) -> None:
    json.dump(document, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def fail(message: str, code: int = 1) -> int:
    print(f"goodstanding: {message}", file=sys.stderr)
    return code


def safe_url(url: str) -> str:
    """The URL with its password hidden (``postgresql://app:***@db/gs``)."""
    return _CREDENTIALS.sub(r"\1***@", url)


def embedded(url: str) -> bool:
    """SQLite or in-memory storage: the commands may create and migrate its schema."""
    return url.split(":", 1)[0].split("+", 1)[0].lower() in ("sqlite", "memory")


def unreachable(url: str, exc: BaseException) -> OperatorError:
    """The one line for a database that cannot be reached or opened."""
    cause = cause_of(exc)
    if embedded(url):
        return OperatorError(f"cannot open the SQLite database {safe_url(url)}: {cause} — check "
                             "that its folder exists and is writable (storage.database_url)")
    return OperatorError(f"cannot reach the database at {safe_url(url)}: {cause} — start "
                         "PostgreSQL, or point GOODSTANDING_DATABASE_URL at it")


def cause_of(exc: BaseException) -> str:
    """The innermost cause, as a short phrase (``connection refused``)."""
    while True:
        inner = getattr(exc, "orig", None) or exc.__cause__
        if inner is None or inner is exc:
            break
        exc = inner
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@asynccontextmanager
async def opened_store(settings: Settings) -> AsyncIterator[Store]:
    """The store, its schema ready to use: SQLite is migrated in place (embedded); PostgreSQL
    must have been migrated (``goodstanding migrate``), else OperatorError says to."""
    from goodstanding.stores import open_store, outage

    url = settings.storage.database_url
    try:
        store = open_store(url)
    except ValueError as exc:  # sqlalchemy's ArgumentError is one too
        raise ConfigError(f"storage.database_url is not a valid URL ({safe_url(url)}): {exc}; "
                          "e.g. postgresql://user:password@host:5432/goodstanding") from None
    try:
        try:
            if embedded(url):
                await store.migrate()
            else:
                behind = await store.schema_behind()
                if behind:
                    raise OperatorError(behind)
        except Exception as exc:
            if outage(exc):
                raise unreachable(url, exc) from exc
            raise
        yield store
    finally:
        await store.close()


def listen_error(exc: OSError, host: str, port: int) -> OperatorError:
    """The one line for a listening socket that cannot be had."""
    where = f"cannot listen on {host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return OperatorError(f"{where}: the port is already in use (another gateway?) — pick "
                             "another with --port N, or --port 0 for any free port")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return OperatorError(f"{where}: permission denied (ports below 1024 need privileges) — "
                             "use a port above 1023, e.g. --port 8700")
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return OperatorError(f"{where}: {exc.strerror or exc} — --host must be an address of "
                             "this machine (127.0.0.1, 0.0.0.0 for every interface)")
    return OperatorError(f"{where}: {exc.strerror or exc}")


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (0: any free port), or OperatorError with the fix."""
    from goodstanding.runner import listen as bind

    try:
        return bind(host, port)
    except OSError as exc:
        raise listen_error(exc, host, port) from None


def base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
