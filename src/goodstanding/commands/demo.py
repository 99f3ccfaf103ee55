"""``goodstanding demo`` — the whole system on one machine, no network, no OpenAI key.

The gateway on embedded storage (SQLite in a temporary folder) in front of the built-in
simulated upstream; a demo virtual key; a short scenario played through the real HTTP path
with the official ``openai`` SDK; then it keeps serving until Ctrl-C (or exits with --exit).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import tempfile
import time
from pathlib import Path

from goodstanding.commands import listen_error
from goodstanding.credentials import keys
from goodstanding.gateway import Gateway
from goodstanding.settings import load_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address the demo gateway listens on")
    parser.add_argument("--port", type=int, default=8700,
                        help="port of the demo gateway; 0 for any free port")
    parser.add_argument("--exit", action="store_true",
                        help="quit after the scenario instead of serving until Ctrl-C")


def run(args: argparse.Namespace) -> int:
    from goodstanding.commands.demo_scenario import play
    from goodstanding.runner import serve_in_thread
    from goodstanding.server.app import create_app
    from goodstanding.simulate import create_app as simulated

    with (
        tempfile.TemporaryDirectory(prefix="goodstanding-demo-") as folder,
        serve_in_thread(simulated(api_key="sk-demo-upstream")) as upstream_url,
        contextlib.ExitStack() as stack,
    ):
        admin_token = secrets.token_urlsafe(24)  # the dashboard's sign-in, for this run only
        settings = load_settings(env={**_demo_env(folder, upstream_url),
                                      "GOODSTANDING_ADMIN_TOKEN": admin_token})
        gateway = Gateway.build(settings)
        token = asyncio.run(_demo_key(gateway))
        try:
            serving = serve_in_thread(create_app(gateway), args.host, args.port)
            url = stack.enter_context(serving)
        except OSError as exc:
            raise listen_error(exc, args.host, args.port) from None
        with stack:
            print(f"goodstanding demo: gateway on {url}/v1 in front of the simulated "
                  f"OpenAI API (a test double) on {upstream_url}/v1")
            print(f"demo virtual key: {token}\n")
            ok = play(f"{url}/v1", token)
            print(f"\ndashboard: {url}/admin/  (sign in with the admin token {admin_token})")
            if args.exit:
                return 0 if ok else 1
            print(f"\nserving on {url}/v1 until Ctrl-C")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
    return 0


def _demo_env(folder: str, upstream_url: str) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": "sk-demo-upstream",
        "GOODSTANDING_UPSTREAM_URL": f"{upstream_url}/v1",
        "GOODSTANDING_DATABASE_URL": f"sqlite:///{Path(folder) / 'goodstanding-demo.db'}",
        "GOODSTANDING_SECRET": secrets.token_hex(32),
        # the scenario plays a client behind a proxy (X-Forwarded-For) for its geo step
        "GOODSTANDING_TRUSTED_PROXIES": "127.0.0.1/32",
        # the scenario shows a jailbreak refused offline: an explicit opt-in (default: flag)
        "GOODSTANDING_DETECTORS__JAILBREAK": "block",
    }


async def _demo_key(gateway: Gateway) -> str:
    try:
        await gateway.store.migrate()
        _, token = await keys.create_key(gateway.store, "demo")
        return token
    finally:
        await gateway.store.close()
