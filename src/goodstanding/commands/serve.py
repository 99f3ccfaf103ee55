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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    print(f"goodstanding: serving on http://{args.host}:{args.port}/v1 "
          f"(upstream {settings.upstream.url})", flush=True)
    if args.workers > 1:
        return _run_workers(args)
    from goodstanding.server.app import create_app
    from goodstanding.server.runner import run_forever

    run_forever(create_app(Gateway.build(settings)), args.host, args.port)
    return 0


def _run_workers(args: argparse.Namespace) -> int:
    import uvicorn

    if args.config:
        os.environ["GOODSTANDING_CONFIG"] = os.path.abspath(args.config)
    uvicorn.run("goodstanding.server.app:app_from_env", factory=True, host=args.host,
                port=args.port, workers=args.workers, http="httptools", log_level="warning",
                access_log=False, proxy_headers=False)
    return 0
