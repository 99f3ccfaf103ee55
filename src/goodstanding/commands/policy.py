"""``goodstanding policy render [--format html|md|json] [--out FILE]``: the content policy.

The same document ``GET /policy`` serves, from the same settings (``--config`` and the
environment), so an operator can review it before deploying or publish it elsewhere.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from goodstanding.commands import add_config, settings_of


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    render = sub.add_parser("render", help="the content policy generated from the configuration")
    render.add_argument("--format", choices=("html", "md", "json"), default="html",
                        help="html (default), md or json")
    render.add_argument("--out", metavar="FILE", help="write it here instead of stdout")
    add_config(render)


def run(args: argparse.Namespace) -> int:
    from goodstanding.server.policy_page import render_policy

    text = render_policy(settings_of(args), args.format)
    if args.out:
        Path(args.out).write_text(text if text.endswith("\n") else text + "\n")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
