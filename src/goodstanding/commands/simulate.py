"""``goodstanding simulate-upstream`` — the simulated OpenAI API (a test double) on its own."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8701, help="port to listen on")
    parser.add_argument("--api-key", help="require this upstream key (default: accept any)")


def run(args: argparse.Namespace) -> int:
    from goodstanding.runner import run_forever
    from goodstanding.simulate import create_app

    print(f"goodstanding: simulated OpenAI API (a test double) on http://{args.host}:{args.port}/v1",
          flush=True)
    run_forever(create_app(api_key=args.api_key), args.host, args.port)
    return 0
