"""``goodstanding serve`` — the gateway in front of OpenAI (or any upstream URL)."""

from __future__ import annotations

import argparse
import logging
import os

from goodstanding.commands import add_config, settings_of
from goodstanding.gateway import Gateway, require_runnable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--workers", type=int, default=1, help="gateway processes on this host")


def run(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    require_runnable(settings)
    from goodstanding.ops.logs import configure

    configure(settings)  # JSON lines off a terminal, text on one (settings.logging)
    from goodstanding.server.protocol import raise_open_file_limit

    raise_open_file_limit()  # more client connections fit (server.max_connections)
    print(f"goodstanding: serving on http://{args.host}:{args.port}/v1 "
          f"(upstream {settings.upstream.url})", flush=True)
    if args.workers > 1:
        if not settings.storage.redis_url:
            logging.getLogger("goodstanding").warning(
                "%d workers without GOODSTANDING_REDIS_URL: each worker counts limits on its "
                "own (N times the limit) and sees bans made elsewhere within 5 s", args.workers)
        if settings.storage.database_url.startswith("sqlite"):
            _migrate(settings.storage.database_url)  # once, before the workers race to it
        return _run_workers(args)
    from goodstanding.server.app import create_app
    from goodstanding.server.runner import run_forever

    run_forever(create_app(Gateway.build(settings)), args.host, args.port)
    return 0


def _migrate(url: str) -> None:
    import asyncio

    from goodstanding.stores import open_store

    async def go() -> None:
        store = open_store(url)
        try:
            await store.migrate()
        finally:
            await store.close()

    asyncio.run(go())


def _run_workers(args: argparse.Namespace) -> int:
    import tempfile

    from goodstanding.server import workers

    if args.config:
        os.environ["GOODSTANDING_CONFIG"] = os.path.abspath(args.config)
    # each worker takes its share of the database connections (storage.max_connections)
    os.environ["GOODSTANDING_WORKERS"] = str(args.workers)
    with tempfile.TemporaryDirectory(prefix="goodstanding-metrics-") as folder:
        # every worker writes its metrics here; /metrics sums them (server/metrics_dir.py)
        os.environ["GOODSTANDING_METRICS_DIR"] = folder
        # a listening socket per worker, so that connections spread over them (workers.py)
        return workers.serve(args.host, args.port, args.workers)
