"""Help a newcomer can work from: every command and sub-command listed, every option and
positional argument described, with its default; ``goodstanding --version``."""

from __future__ import annotations

import argparse

import pytest

from goodstanding import __version__
from goodstanding.cli import COMMANDS, build_parser, main


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from walk(child, (*path, name))


PARSERS = list(walk(build_parser("*")))


def test_every_command_is_walked():
    names = {path[0] for path, _ in PARSERS if path}
    assert names == set(COMMANDS)
    assert len(PARSERS) > 20  # the sub-commands of keys, users and config too


@pytest.mark.parametrize("path,parser", PARSERS, ids=[" ".join(p) or "goodstanding"
                                                       for p, _ in PARSERS])
def test_every_option_and_argument_has_help(path, parser):
    assert parser.description or not path, f"{path} has no description"
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        assert action.help and len(action.help) > 10, f"{' '.join(path)} {name}: no help text"
    text = " ".join(parser.format_help().split())
    for action in parser._actions:
        default = action.default
        if (action.option_strings and isinstance(default, int | float | str)
                and not isinstance(default, bool) and default != argparse.SUPPRESS
                and "default" not in (action.help or "")):  # explained in words
            assert f"default: {default}" in text or f"({default})" in text, (
                f"{' '.join(path)} {action.option_strings}: default {default!r} not shown")


@pytest.mark.parametrize("command,subcommands", [
    ("users", ["list", "show", "ban", "unban", "reset", "lookup"]),
    ("keys", ["create", "list", "revoke", "rotate"]),
    ("config", ["show", "check", "reference"]),
])
def test_help_lists_every_subcommand(command, subcommands, capsys):
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for sub in subcommands:
        assert f"\n    {sub} " in out or f"\n    {sub}\n" in out, f"{command} --help omits {sub}"


def test_top_level_help_lists_every_command_and_debug(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out
    assert "--debug" in out and "--version" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"goodstanding {__version__}"


def test_users_list_help_names_the_default_limit(capsys):
    with pytest.raises(SystemExit):
        main(["users", "list", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: 1000)" in out and "--status" in out
