"""The ``goodstanding`` command: one sub-command per module in ``commands/``.

Every command and option has ``--help`` text with its default. Every expected failure (a
configuration error, a store unreachable, a port in use, a bad URL, a missing secret, a file it
may not read) is one line naming the cause and the fix, exit code ≠ 0: ``explain`` below is the
one place that maps them. A traceback only with ``goodstanding --debug …``.
"""

from __future__ import annotations

import argparse
import errno
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from importlib import import_module

from goodstanding import __version__
from goodstanding.errors import ConfigError, OperatorError

# command -> module in goodstanding.commands (or elsewhere) with add_arguments() and run()
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("goodstanding.commands.serve", "run the gateway"),
    "demo": ("goodstanding.commands.demo", "the whole system offline, with a scripted scenario"),
    "simulate-upstream": ("goodstanding.commands.simulate", "the simulated OpenAI API on its own"),
    "keys": ("goodstanding.commands.keys", "create, list, revoke and rotate virtual keys; per-key moderation"),
    "users": ("goodstanding.commands.users",
              "end users: list, show, ban, unban, reset, lookup"),
    "eval": ("goodstanding.detect.eval", "score the local detectors on a labelled JSONL set"),
    "migrate": ("goodstanding.commands.migrate", "bring the database schema up to date"),
    "config": ("goodstanding.commands.config",
               "the effective configuration, a settings file's check, the reference"),
    "policy": ("goodstanding.commands.policy", "the content policy, from the configuration"),
    "secrets": ("goodstanding.commands.secrets", "the encrypted local store for upstream keys"),
    "upstream": ("goodstanding.commands.upstream", "named upstream keys: list and rotate"),
    "scan": ("goodstanding.commands.scan", "find leaked OpenAI and goodstanding keys"),
    "report": ("goodstanding.commands.report",
               "the compliance report for an appeal (HTML, JSON, PDF)"),
    "incidents": ("goodstanding.commands.incidents",
                  "incidents (outages, enforcement notices, alerts): list, resolve"),
}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default (argparse's), none for flags and Nones."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (action.default in (None, False, [], argparse.SUPPRESS) or "%(default)" in text
                or "default" in text.lower() or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)"


def _formatted(parser: argparse.ArgumentParser) -> None:
    """The formatter on every parser below this one (sub-parsers are made by argparse)."""
    parser.formatter_class = HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            summaries = {a.dest: a.help for a in action._get_subactions()}
            for name, child in action.choices.items():
                child.description = child.description or summaries.get(name)
                _formatted(child)


def build_parser(wanted: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the command being run is imported (keeps `--help` and start-up fast).

    ``wanted="*"`` imports every command (the help test walks them all)."""
    parser = argparse.ArgumentParser(
        prog="goodstanding", formatter_class=HelpFormatter,
        description="An OpenAI-compatible gateway that keeps your OpenAI organization in good "
                    "standing.",
    )
    parser.add_argument("--version", action="version", version=f"goodstanding {__version__}",
                        help="print the version and exit")
    parser.add_argument("--debug", action="store_true",
                        help="print the full traceback of a failure, not just its one line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, summary) in COMMANDS.items():
        command = sub.add_parser(name, help=summary, description=summary,
                                 formatter_class=HelpFormatter)
        if name != wanted and wanted != "*":
            continue
        module = import_module(module_name)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    _formatted(parser)
    return parser


def explain(exc: BaseException) -> tuple[str, int] | None:
    """An expected failure's one line and exit code; None for a bug (an unexpected error)."""
    if isinstance(exc, ConfigError):
        return f"configuration error: {exc}", 2
    if isinstance(exc, OperatorError):
        return str(exc), 1
    from goodstanding.commands import cause_of
    from goodstanding.stores import outage

    if isinstance(exc, PermissionError):
        what = f" {exc.filename}" if exc.filename else ""
        return (f"permission denied{what}: run as a user who may read and write it, or point "
                "the setting elsewhere"), 1
    if isinstance(exc, FileNotFoundError):
        return f"no such file or folder: {exc.filename} — check the path", 1
    if _redis_down(exc):
        return (f"cannot reach Redis: {exc} — start it, or point GOODSTANDING_REDIS_URL at it "
                "(unset it to run without Redis)"), 1
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return ("the address is already in use — pick another port with --port N, or --port 0 "
                "for any free port"), 1
    if outage(exc):
        return (f"cannot reach the database: {cause_of(exc)} — start it, or point "
                "GOODSTANDING_DATABASE_URL at it"), 1
    return None


def _redis_down(exc: BaseException) -> bool:
    kind = type(exc)
    return kind.__module__.startswith("redis") and kind.__name__ in (
        "ConnectionError", "TimeoutError", "BusyLoadingError")


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
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place that turns failures into one line
        if args.debug:
            traceback.print_exc()
        else:
            # a driver's worker thread (aiosqlite's) torn down at exit after the failure would
            # print its own traceback under our one line: the failure is reported already
            threading.excepthook = lambda _args: None
        known = explain(exc)
        if known is None:
            where = "" if args.debug else " (run with --debug for the traceback)"
            print(f"goodstanding: unexpected error: {type(exc).__name__}: {exc}{where}",
                  file=sys.stderr)
            return 1
        message, code = known
        print(f"goodstanding: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
