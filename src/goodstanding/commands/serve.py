"""``goodstanding serve`` — the gateway in front of OpenAI (or any upstream URL).

Before it listens it checks what it needs: the upstream key and secret (one line each), and
on PostgreSQL a reachable database whose schema is migrated (``goodstanding migrate``). It
prints its address once the port is bound and the gateway has started (the real port with
``--port 0``). ``--workers N`` reloads on SIGHUP: new configuration, new workers, old ones
drain (server/workers.py).
"""

from __future__ import annotations

import argparse
import logging
import os

from goodstanding.commands import add_config, base_url, listen, settings_of
from goodstanding.errors import ConfigError
from goodstanding.gateway import Gateway, require_runnable
from goodstanding.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on; 0.0.0.0 for every interface")
    parser.add_argument("--port", type=int, default=8700,
                        help="port to listen on; 0 for any free port (the address printed "
                             "names it)")
    parser.add_argument("--workers", type=int, default=1,
                        help="gateway processes on this host, sharing the port; with more "
                             "than 1, SIGHUP reloads the configuration without dropping "
                             "a request")


def run(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    require_runnable(settings)
    from goodstanding.ops.logs import configure

    configure(settings)  # JSON lines off a terminal, text on one (settings.logging)
    from goodstanding.server.protocol import raise_open_file_limit

    _check_store(settings)
    _preflight(settings)  # one line naming a virtual key bound to a vanished upstream key
    raise_open_file_limit()  # more client connections fit (server.max_connections)
    if args.workers > 1:
        return _run_workers(args, settings)
    from goodstanding.runner import run_forever
    from goodstanding.server.app import create_app

    sock = listen(args.host, args.port)
    port = sock.getsockname()[1]
    run_forever(create_app(Gateway.build(settings)), args.host, port, sock=sock,
                on_started=lambda: _announce(args.host, port, settings))
    return 0


def _preflight(settings: Settings) -> None:
    import asyncio

    from goodstanding.gateway import check_key_bindings
    from goodstanding.stores import open_store

    async def go() -> None:
        store = open_store(settings.storage.database_url)
        try:
            if settings.storage.database_url.startswith("sqlite"):
                await store.migrate()
            elif await store.schema_behind():
                return  # start-up reports that one
            await check_key_bindings(store, settings)
        finally:
            await store.close()

    try:
        asyncio.run(go())
    except ConfigError:
        raise
    except Exception:  # noqa: BLE001, S110 - an unreachable store is reported by start-up
        pass


def _announce(host: str, port: int, settings: Settings) -> None:
    print(f"goodstanding: serving on {base_url(host, port)}/v1 "
          f"(upstream {settings.upstream.url})", flush=True)


def _check_store(settings: Settings) -> None:
    """SQLite: migrated here (once, before any worker races to it). PostgreSQL: reachable and
    migrated, else one line that says what to do (OperatorError)."""
    import asyncio

    from goodstanding.commands import opened_store

    async def go() -> None:
        async with opened_store(settings):
            pass

    asyncio.run(go())


def _run_workers(args: argparse.Namespace, settings: Settings) -> int:
    import tempfile

    from goodstanding.commands import listen_error
    from goodstanding.server import workers

    if args.config:
        os.environ["GOODSTANDING_CONFIG"] = os.path.abspath(args.config)
    # each worker takes its share of the database connections (storage.max_connections)
    os.environ["GOODSTANDING_WORKERS"] = str(args.workers)
    try:
        # a listening socket per worker, so that connections spread over them (workers.py)
        sockets = workers.listeners(args.host, args.port, args.workers)
    except OSError as exc:
        raise listen_error(exc, args.host, args.port) from None
    if not settings.storage.redis_url:
        logging.getLogger("goodstanding").warning(
            "%d workers without GOODSTANDING_REDIS_URL: each worker counts limits on its "
            "own (N times the limit) and sees bans made elsewhere within 5 s", args.workers)
    port = sockets[0].getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="goodstanding-metrics-") as folder:
        # every worker writes its metrics here; /metrics sums them (server/metrics_dir.py)
        os.environ["GOODSTANDING_METRICS_DIR"] = folder
        return workers.serve(sockets, args.host, port,
                             on_started=lambda: _announce(args.host, port, settings))
