"""Sub-commands of the ``goodstanding`` CLI; each module has ``add_arguments`` and ``run``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from goodstanding.settings import Settings, load_settings


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="YAML settings file (or GOODSTANDING_CONFIG)")


def settings_of(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None))


def print_json(document: Any) -> None:
    json.dump(document, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def fail(message: str, code: int = 1) -> int:
    print(f"goodstanding: {message}", file=sys.stderr)
    return code
