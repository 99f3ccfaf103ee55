"""`goodstanding users …` against a running gateway's database: the operator's round trip."""

from __future__ import annotations

import json
import time

import openai
import pytest

from goodstanding.cli import main

MODEL = "gpt-4o-mini"
HELLO = [{"role": "user", "content": "hello there"}]
FLAGGED = [{"role": "user", "content": "something bad [[fault:cyber_policy]]"}]


@pytest.fixture
def cli(gw, monkeypatch, capsys):
    monkeypatch.setenv("GOODSTANDING_DATABASE_URL", gw.db_url)
    # the gateway's standing cache would otherwise hide CLI changes for a few seconds
    gw.gateway.enforcer.cache.ttl = 0

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["users", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def chat(gw, user: str, messages=HELLO):
    return gw.client().chat.completions.create(model=MODEL, messages=messages,
                                               safety_identifier=user)


def test_list_show_ban_unban_reset_round_trip(gw, cli):
    with pytest.raises(openai.BadRequestError):
        chat(gw, "mallory", FLAGGED)
    code, out, _ = cli("list", "--json")
    assert code == 0
    [row] = json.loads(out)
    assert (row["end_user"], row["status"], row["tenant"]) == ("mallory", "active", "test-app")

    code, out, _ = cli("show", "mallory", "--json")
    shown = json.loads(out)
    assert shown["strikes_counting"] == 1
    assert shown["strikes"][0]["categories"] == ["cyber_policy"]
    assert shown["strikes"][0]["reason"] == "upstream_cyber_policy"
    assert "something bad" not in out
    assert [a["action"] for a in shown["actions"]] == ["warn"]

    assert cli("ban", "mallory", "--by", "ops-anna", "--reason", "abuse report")[0] == 0
    with pytest.raises(openai.PermissionDeniedError) as caught:
        chat(gw, "mallory")
    assert caught.value.code == "end_user_banned"
    code, out, _ = cli("list", "--status", "banned", "--json")
    assert [r["end_user"] for r in json.loads(out)] == ["mallory"]
    assert json.loads(cli("list", "--status", "suspended", "--json")[1]) == []

    code, out, _ = cli("unban", "mallory", "--by", "ops-ben", "--json")
    assert code == 0 and json.loads(out)["status"] == "active"
    assert chat(gw, "mallory").choices
    actions = json.loads(cli("show", "mallory", "--json")[1])["actions"]
    assert [(a["action"], a["by"]) for a in actions] == [
        ("warn", "gateway"), ("ban", "ops-anna"), ("unban", "ops-ben")]

    code, out, _ = cli("reset", "mallory", "--json")
    assert json.loads(out)["strikes_removed"] == 1
    assert json.loads(cli("show", "mallory", "--json")[1])["strikes"] == []


def test_unban_records_the_os_user_by_default(gw, cli):
    cli("ban", "eve")
    code, out, _ = cli("unban", "eve")
    assert code == 0 and "recorded as done by" in out
    actions = json.loads(cli("show", "eve", "--json")[1])["actions"]
    assert actions[-1]["by"] and actions[-1]["by"] != "gateway"


def test_several_tenants_need_tenant(gw, cli):
    from goodstanding.credentials import keys

    gw.store_call("add_key", keys.VirtualKey("other0000000", "other", "other", "h", time.time()))
    code, _, err = cli("ban", "eve")
    assert code == 2 and "--tenant" in err
    assert cli("ban", "eve", "--tenant", "other")[0] == 0
    assert cli("show", "eve", "--tenant", "test-app")[0] == 1
    assert chat(gw, "eve").choices  # a ban in another tenant does not touch this one


def test_unknown_end_user(gw, cli):
    code, _, err = cli("show", "nobody")
    assert code == 1 and "no strikes" in err
    assert cli("unban", "nobody")[0] == 1
