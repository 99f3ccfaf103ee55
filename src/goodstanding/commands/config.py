"""``goodstanding config show|check|reference`` — the configuration, discoverable.

``reference`` writes the configuration reference (docs/configuration.md) from the settings
models themselves: every key with its type, default, environment variable and meaning. The
meaning is the comment just above the field in settings.py (or its ``Field(description=…)``),
so a setting added without one fails tests/test_config_cli.py, as does a stale document.
``show`` prints the effective configuration with secrets redacted and where each value came
from (default, file, env); ``check FILE`` validates a file as ``serve`` would.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import os
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from goodstanding import settings as settings_module
from goodstanding.commands import add_config, print_json, safe_url
from goodstanding.commands.output import table
from goodstanding.settings import PLAIN_ENV, Settings, load_settings

REDACTED = "***"
# leaf names whose values are secrets: never printed
_SECRET_NAMES = {"key", "keys", "secret", "admin_token", "admin_tokens", "webhook_secret",
                 "tier_secret"}
_URL_NAMES = {"database_url", "redis_url"}

HEADER = """# Configuration reference

Generated from the settings models (`src/goodstanding/settings.py`) by
`goodstanding config reference > docs/configuration.md` (or `make docs`); a test fails when a
setting is missing here or this file is stale. Do not edit by hand.

Precedence, lowest to highest: the default < the YAML file (`--config FILE` or
`GOODSTANDING_CONFIG`) < the plain environment variables (the second name in the Environment
column) < `GOODSTANDING_<SECTION>__<KEY>` overrides. Durations are written `30s`, `15m`,
`24h`, `30d`. Secrets may be written `env:NAME` or `file:/path` and are resolved at start-up.
`goodstanding config show` prints the effective configuration and where each value came from;
`goodstanding config check FILE` validates a file.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="the effective configuration (secrets redacted) and "
                                       "where each value came from: default, file or env")
    add_config(show)
    show.add_argument("--json", action="store_true",
                      help="machine-readable output: a list of {key, value, source}")
    check = sub.add_parser("check", help="validate a settings file as `serve` would; one line "
                                         "naming the bad key, exit 2")
    check.add_argument("file", metavar="FILE", help="the YAML settings file to check")
    sub.add_parser("reference", help="print the configuration reference (Markdown) generated "
                                     "from the settings models; docs/configuration.md is this")


def run(args: argparse.Namespace) -> int:
    if args.action == "reference":
        sys.stdout.write(reference())
        return 0
    if args.action == "check":
        return _check(args.file)
    return _show(args)


# the reference ---------------------------------------------------------------------------


def _comments() -> dict[tuple[str, str], str]:
    """(class name, field name) -> the comment lines just above the field (or after it)."""
    source = inspect.getsource(settings_module)
    lines = source.splitlines()
    found: dict[tuple[str, str], str] = {}
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        for item in node.body:
            if not (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)):
                continue
            above: list[str] = []
            row = item.lineno - 2
            while row >= 0 and lines[row].strip().startswith("#"):
                above.insert(0, lines[row].strip().lstrip("#").strip())
                row -= 1
            line = lines[item.lineno - 1]
            if not above and "  # " in line:
                above = [line.split("  # ", 1)[1].strip()]
            if above:
                found[(node.name, item.target.id)] = " ".join(above)
    return found


def _type(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        parts = [_type(a) for a in args if a is not type(None)]
        text = " or ".join(parts)
        return f"{text}, optional" if type(None) in args else text
    if origin is tuple:
        return f"list of {_type(args[0])}"
    if origin is dict:
        return f"map of {_type(args[0])} to {_type(args[1])}"
    return getattr(annotation, "__name__", str(annotation))


def _default(value: Any) -> str:
    if isinstance(value, tuple):
        value = list(value)
    return "`" + json.dumps(value) + "`" if value not in ([], {}) else "(none)"


def fields(model: type[BaseModel] = Settings, prefix: tuple[str, ...] = ()
           ) -> Iterator[tuple[tuple[str, ...], Any, Any, str | None]]:
    """Every leaf setting: (path, annotation, default, meaning)."""
    comments = _comments()
    for name, info in model.model_fields.items():
        path = (*prefix, name)
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from fields(annotation, path)
            continue
        default = info.get_default(call_default_factory=True)
        meaning = info.description or comments.get((model.__name__, name))
        yield path, annotation, default, meaning


def env_names(path: tuple[str, ...]) -> list[str]:
    names = ["GOODSTANDING_" + "__".join(p.upper() for p in path)]
    names += [plain for plain, where in PLAIN_ENV.items() if where == path]
    return names


def reference() -> str:
    out = [HEADER]
    section = None
    for path, annotation, default, meaning in fields():
        top = path[0] if len(path) > 1 else "(top level)"
        if top != section:
            section = top
            out.append(f"\n## `{top}`\n\n| Key | Type | Default | Environment | Meaning |\n"
                       "| --- | --- | --- | --- | --- |")
        env = ", ".join(f"`{n}`" for n in env_names(path))
        text = (meaning or "").replace("|", "\\|")
        out.append(f"| `{'.'.join(path)}` | {_type(annotation)} | {_default(default)} | {env} "
                   f"| {text} |")
    return "\n".join(out) + "\n"


# show and check --------------------------------------------------------------------------


def _flatten(node: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    if isinstance(node, dict) and prefix not in _MAP_PATHS:
        flat: dict[tuple[str, ...], Any] = {}
        for key, value in node.items():
            flat.update(_flatten(value, (*prefix, str(key))))
        return flat
    return {prefix: node}


_MAP_PATHS = {path for path, annotation, _, _ in fields()
              if typing.get_origin(annotation) is dict}


def _redact(path: tuple[str, ...], value: Any) -> Any:
    if value is None:
        return None
    name = path[-1]
    if name in _SECRET_NAMES or name.endswith(("_secret", "_token")):
        return {k: REDACTED for k in value} if isinstance(value, dict) else REDACTED
    if name in _URL_NAMES and isinstance(value, str):
        return safe_url(value)
    return value


def sources(config: str | None, env: dict[str, str]) -> dict[tuple[str, ...], str]:
    """Where each set key came from: "file" or "env" (the rest are defaults)."""
    found: dict[tuple[str, ...], str] = {}
    path = config or env.get("GOODSTANDING_CONFIG")
    if path:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if isinstance(loaded, dict):
            for key in _flatten(loaded):
                found[key] = "file"
    for name, where in PLAIN_ENV.items():
        if env.get(name):
            found[where] = f"env {name}"
    for name in env:
        if name.startswith("GOODSTANDING_") and "__" in name:
            key = tuple(p.lower() for p in name[len("GOODSTANDING_"):].split("__"))
            found[key] = f"env {name}"
    return found


def _source(path: tuple[str, ...], found: dict[tuple[str, ...], str]) -> str:
    for n in range(len(path), 0, -1):  # a whole section set at once counts for its keys
        if path[:n] in found:
            return found[path[:n]]
    return "default"


def _show(args: argparse.Namespace) -> int:
    config = getattr(args, "config", None)
    effective = load_settings(config)  # ConfigError: one line (cli.py)
    found = sources(config, dict(os.environ))
    tree = effective.model_dump(mode="json")
    rows = []
    for path, *_ in fields():
        value: Any = tree
        for part in path:
            value = value[part]
        rows.append({"key": ".".join(path), "value": _redact(path, value),
                     "source": _source(path, found)})
    if args.json:
        print_json(rows)
        return 0
    table([{**r, "value": json.dumps(r["value"])} for r in rows],
          [("key", "KEY"), ("value", "VALUE"), ("source", "SOURCE")])
    return 0


def _check(file: str) -> int:
    # the file's own content: secrets named as env:NAME need not be set to check it
    load_settings(file, env={k: v for k, v in os.environ.items()
                             if not k.startswith(("GOODSTANDING_", "OPENAI_"))})
    print(f"{file}: ok")
    return 0
