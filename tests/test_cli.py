"""The command line: --help everywhere, keys round trip, clear one-line errors."""

from __future__ import annotations

import json

import pytest

from goodstanding.cli import COMMANDS, main


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_keys_create_list_revoke_rotate(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GOODSTANDING_DATABASE_URL", f"sqlite:///{tmp_path / 'k.db'}")
    assert main(["keys", "create", "team-a", "--rpm", "5", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert set(created) == {"id", "name", "key"} and created["key"].startswith("gsk-")
    assert main(["keys", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["id"] == created["id"] and created["key"] not in json.dumps(listed)
    assert main(["keys", "rotate", created["id"], "--grace", "1h", "--json"]) == 0
    rotated = json.loads(capsys.readouterr().out)
    assert rotated["replaces"] == created["id"]
    assert main(["keys", "revoke", created["id"]]) == 0
    assert main(["keys", "revoke", "nosuchkey"]) == 1
    assert "no key with id" in capsys.readouterr().err


def test_bad_key_name_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GOODSTANDING_DATABASE_URL", f"sqlite:///{tmp_path / 'k.db'}")
    assert main(["keys", "create", "no spaces allowed"]) == 2
    assert "key name" in capsys.readouterr().err


def test_serve_refuses_without_upstream_key(monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("GOODSTANDING_SECRET", "s")
    assert main(["serve"]) == 2
    assert "no upstream key" in capsys.readouterr().err


def test_serve_refuses_invalid_config(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("limits: {end_user: {rpmm: 1}}\n")
    assert main(["serve", "--config", str(config)]) == 2
    assert "limits.end_user.rpmm: unknown key" in capsys.readouterr().err
