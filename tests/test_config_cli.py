"""The configuration, discoverable: a generated reference that cannot go stale, ``config show``
(effective values, secrets redacted, where each came from) and ``config check FILE``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from goodstanding.cli import main
from goodstanding.commands.config import fields, reference
from goodstanding.settings import PLAIN_ENV, Settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("GOODSTANDING_") or name in PLAIN_ENV:
            monkeypatch.delenv(name)


def test_every_setting_has_a_meaning_and_a_row_in_the_reference():
    text = DOC.read_text()
    leaves = list(fields())
    assert len(leaves) > 60
    for path, _, _, meaning in leaves:
        key = ".".join(path)
        assert meaning, f"{key}: add a comment above the field in settings.py"
        assert f"| `{key}` |" in text, f"{key} is missing from docs/configuration.md"
    for key in ("moderation.window_chars", "detectors.full", "storage.audit_max_pending",
                "limits.tiers.kyc.scale"):
        assert f"| `{key}` |" in text


def test_every_section_is_walked():
    sections = {path[0] for path, *_ in fields()}
    assert sections == set(Settings.model_fields)


def test_the_reference_is_not_stale():
    assert DOC.read_text() == reference(), (
        "docs/configuration.md is stale: run `make docs` "
        "(goodstanding config reference > docs/configuration.md)")


def test_the_reference_names_every_environment_variable():
    text = DOC.read_text()
    for name in PLAIN_ENV:
        assert f"`{name}`" in text
    assert "`GOODSTANDING_LIMITS__END_USER__RPM`" in text


def test_config_show_redacts_secrets_and_names_sources(tmp_path, monkeypatch, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("upstream:\n  keys: {team-a: env:TEAM_A_KEY}\n"
                      "limits: {end_user: {rpm: 7}}\nadmin_token: file:" +
                      str(tmp_path / "token") + "\n")
    (tmp_path / "token").write_text("admin-token-value-123\n")
    monkeypatch.setenv("TEAM_A_KEY", "sk-team-a-secret-456")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-upstream-secret-789")
    monkeypatch.setenv("GOODSTANDING_SECRET", "hmac-secret-000")
    monkeypatch.setenv("GOODSTANDING_DATABASE_URL", "postgresql://app:db-password-1@db/gs")
    monkeypatch.setenv("GOODSTANDING_MODERATION__WINDOW_CHARS", "800")
    assert main(["config", "show", "--config", str(config), "--json"]) == 0
    out = capsys.readouterr().out
    for secret in ("admin-token-value-123", "sk-team-a-secret-456", "sk-upstream-secret-789",
                   "hmac-secret-000", "db-password-1"):
        assert secret not in out
    rows = {r["key"]: r for r in json.loads(out)}
    assert rows["upstream.key"] == {"key": "upstream.key", "value": "***",
                                    "source": "env OPENAI_API_KEY"}
    assert rows["upstream.keys"]["value"] == {"team-a": "***"}
    assert rows["upstream.keys"]["source"] == "file"
    assert rows["admin_token"]["value"] == "***"
    assert rows["storage.database_url"]["value"] == "postgresql://app:***@db/gs"
    assert rows["limits.end_user.rpm"] == {"key": "limits.end_user.rpm", "value": 7,
                                           "source": "file"}
    assert rows["moderation.window_chars"]["value"] == 800
    assert rows["moderation.window_chars"]["source"] == "env GOODSTANDING_MODERATION__WINDOW_CHARS"
    assert rows["limits.end_user.tpm"]["source"] == "default"
    assert rows["webhook_secret"]["value"] is None  # unset: nothing to hide


def test_config_show_table_has_a_header(capsys):
    assert main(["config", "show"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["KEY", "VALUE", "SOURCE"]
    assert any(line.split()[:1] == ["limits.end_user.rpm"] and line.split()[-1] == "default"
               for line in lines)


def test_config_check(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text("limits: {end_user: {rpm: 5}}\nupstream: {key: env:NOT_SET_HERE}\n")
    assert main(["config", "check", str(good)]) == 0
    assert capsys.readouterr().out.strip() == f"{good}: ok"
    bad = tmp_path / "bad.yaml"
    bad.write_text("limits: {end_user: {rpmm: 5}}\n")
    assert main(["config", "check", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "goodstanding: configuration error: limits.end_user.rpmm: unknown key"
    assert main(["config", "check", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read config file" in capsys.readouterr().err
