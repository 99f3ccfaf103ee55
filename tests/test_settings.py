"""Settings: file + environment precedence, unknown keys rejected with their path."""

from __future__ import annotations

import pytest

from goodstanding.errors import ConfigError
from goodstanding.settings import load_settings, parse_duration


def test_defaults_match_the_spec():
    s = load_settings(env={})
    assert (s.limits.end_user.rpm, s.limits.end_user.tpm, s.limits.end_user.rpd) == (20, 40000, 1000)
    assert s.limits.ip.rpm == 60 and s.limits.max_output_tokens == 4096
    assert s.moderation.input == "block" and s.moderation.on_error == "fail_closed"
    assert s.moderation.zero_tolerance == ("sexual/minors",)
    assert s.upstream.url == "https://api.openai.com/v1"
    assert s.storage.database_url == "sqlite:///goodstanding.db"


def test_file_then_plain_env_then_section_env(tmp_path):
    config = tmp_path / "gs.yaml"
    config.write_text("limits:\n  end_user: {rpm: 5}\nupstream: {url: http://file/v1}\n")
    env = {"GOODSTANDING_UPSTREAM_URL": "http://env/v1", "GOODSTANDING_LIMITS__END_USER__RPM": "7"}
    s = load_settings(config, env=env)
    assert s.upstream.url == "http://env/v1" and s.limits.end_user.rpm == 7


@pytest.mark.parametrize(
    ("yaml_text", "path"),
    [
        ("limits:\n  end_user: {rpmm: 5}\n", "limits.end_user.rpmm: unknown key"),
        ("moderation: {input: maybe}\n", "moderation.input"),
        ("colour: blue\n", "colour: unknown key"),
        ("strikes: {suspend_for: soon}\n", "strikes.suspend_for"),
    ],
)
def test_bad_keys_name_their_path(tmp_path, yaml_text, path):
    config = tmp_path / "gs.yaml"
    config.write_text(yaml_text)
    with pytest.raises(ConfigError, match=path.replace(".", r"\.")):
        load_settings(config, env={})


def test_secrets_come_from_env_and_files(tmp_path):
    (tmp_path / "key").write_text("sk-from-file\n")
    config = tmp_path / "gs.yaml"
    config.write_text(f"upstream:\n  key: file:{tmp_path / 'key'}\n  keys: {{team-a: env:TEAM_A}}\n")
    s = load_settings(config, env={"TEAM_A": "sk-team-a"})
    assert s.upstream_key() == "sk-from-file" and s.upstream_key("team-a") == "sk-team-a"


def test_env_override_with_unknown_key_is_rejected():
    with pytest.raises(ConfigError, match="limits.end_user.rpx: unknown key"):
        load_settings(env={"GOODSTANDING_LIMITS__END_USER__RPX": "1"})


def test_durations():
    assert parse_duration("24h") == 86400 and parse_duration("30d") == 30 * 86400
    assert parse_duration("150ms") == 0.15


def test_off_is_a_mode_not_a_boolean(tmp_path):
    config = tmp_path / "gs.yaml"
    config.write_text("moderation: {input: off}\ngeo: {mode: off}\n")
    s = load_settings(config, env={"GOODSTANDING_MODERATION__OUTPUT": "off"})
    assert (s.moderation.input, s.moderation.output, s.geo.mode) == ("off", "off", "off")


def test_env_values_are_typed():
    s = load_settings(env={"GOODSTANDING_LIMITS__END_USER__RPM": "null",
                           "GOODSTANDING_LIMITS__IP__RPM": "600",
                           "GOODSTANDING_UPSTREAM__MODELS": "[a, b]"})
    assert s.limits.end_user.rpm is None and s.limits.ip.rpm == 600
    assert s.upstream.models == ("a", "b")
