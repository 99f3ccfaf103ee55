"""The ``goodstanding`` command: one sub-command per module in ``commands/``.

Every command has ``--help``; configuration errors print one line and exit 2; nothing prints a
traceback for a user's mistake.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib import import_module

from goodstanding import __version__
from goodstanding.errors import ConfigError

# command -> module in goodstanding.commands (or elsewhere) with add_arguments() and run()
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("goodstanding.commands.serve", "run the gateway"),
    "demo": ("goodstanding.commands.demo", "the whole system offline, with a scripted scenario"),
    "simulate-upstream": ("goodstanding.commands.simulate", "the simulated OpenAI API on its own"),
    "keys": ("goodstanding.commands.keys", "create, list, revoke and rotate virtual keys"),
    "users": ("goodstanding.commands.users", "end users: look up, list, ban, unban"),
    "policy": ("goodstanding.commands.policy", "the content policy, from the configuration"),
    "eval": ("goodstanding.detect.eval", "score the local detectors on a labelled JSONL set"),
    "migrate": ("goodstanding.commands.migrate", "bring the database schema up to date"),
}


def build_parser(wanted: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the command being run is imported (keeps `--help` and start-up fast)."""
    parser = argparse.ArgumentParser(
        prog="goodstanding",
        description="An OpenAI-compatible gateway that keeps your OpenAI organization in good standing.",
    )
    parser.add_argument("--version", action="version", version=f"goodstanding {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, summary) in COMMANDS.items():
        command = sub.add_parser(name, help=summary, description=summary)
        if name != wanted:
            continue
        module = import_module(module_name)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    wanted = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(wanted if wanted in COMMANDS else None)
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return 2
    try:
        return run(args) or 0
    except ConfigError as exc:
        print(f"goodstanding: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
