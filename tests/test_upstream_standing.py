"""Usage, signals and standing per upstream key, end to end: two teams' virtual keys go out
under their own upstream keys; one team's end users draw OpenAI's policy errors, flags and
429s, and the CLI and the admin API put that team's project at risk and the other's not."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest

from goodstanding.cli import main
from goodstanding.endusers.identity import safety_identifier
from tests.test_upstream_keys import ASK, UNLIMITED, _key, _trust
from tests.test_webhooks import SECRET, blocked, delivery

ADMIN = "upstream-admin-token-0123456789"
TEAMS = {"GOODSTANDING_UPSTREAM__KEYS": '{team-a: {key: "env:TEAM_A", project: proj_a}, '
                                        'team-b: {key: "env:TEAM_B", project: proj_b}}'}
TEAM_A, TEAM_B = "sk-proj-teamA-" + "a" * 30, "sk-proj-teamB-" + "b" * 30


def _say(content: str) -> dict[str, Any]:
    return {**ASK, "messages": [{"role": "user", "content": content}]}


@pytest.fixture
def teams(start_gateway, sim, monkeypatch) -> tuple[Any, openai.OpenAI, openai.OpenAI]:
    import asyncio

    _trust(sim, TEAM_A, TEAM_B)
    env = {"TEAM_A": TEAM_A, "TEAM_B": TEAM_B, **TEAMS, **UNLIMITED,
           "GOODSTANDING_ADMIN_TOKEN": ADMIN, "OPENAI_WEBHOOK_SECRET": SECRET}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    gw = start_gateway(**env)
    monkeypatch.setenv("GOODSTANDING_DATABASE_URL", gw.db_url)
    _, token_a = asyncio.run(_key(gw.db_url, "app-a", upstream="team-a"))
    _, token_b = asyncio.run(_key(gw.db_url, "app-b", upstream="team-b"))
    return gw, gw.client(api_key=token_a), gw.client(api_key=token_b)


def _traffic(a: openai.OpenAI, b: openai.OpenAI) -> None:
    for i in range(3):
        b.chat.completions.create(**{**_say("hello there"), "user": f"b{i}"})
        a.chat.completions.create(**{**_say("hello there"), "user": f"a{i}"})
    for i in range(3):  # OpenAI refuses the prompt: an upstream policy error and a strike
        with pytest.raises(openai.BadRequestError):
            a.chat.completions.create(**{**_say("[[fault:invalid_prompt]] hi"), "user": "bad"})
    with pytest.raises(openai.BadRequestError):  # our moderation flags it
        a.chat.completions.create(**{**_say("[[flag:violence]] marker"), "user": "bad2"})
    with pytest.raises(openai.RateLimitError):
        a.chat.completions.create(**{**_say("[[fault:insufficient_quota]] hi"), "user": "a0"})


def _views(gw: Any, seen: int) -> dict[str, dict[str, Any]]:
    """The admin API's view, once the audit writer has written ``seen`` calls of team-a."""
    rows: dict[str, Any] = {}
    deadline = time.time() + 10
    while time.time() < deadline:
        answer = httpx.get(f"{gw.url}/admin/api/upstream",
                           headers={"authorization": f"Bearer {ADMIN}"})
        assert answer.status_code == 200, answer.text
        rows = {r["name"]: r for r in answer.json()}
        if rows["team-a"]["windows"]["1h"]["requests"] >= seen:
            break
        time.sleep(0.1)
    return rows


def test_signals_and_standing_are_reported_per_upstream_key(teams, capsys):
    gw, a, b = teams
    _traffic(a, b)
    rows = _views(gw, 8)
    team_a, team_b = rows["team-a"], rows["team-b"]
    hour = team_a["windows"]["1h"]
    assert hour["requests"] == 8 and team_b["windows"]["1h"]["requests"] == 3
    assert hour["upstream_policy"] == 3 and hour["strikes"] >= 4
    assert hour["insufficient_quota"] == 1 and hour["upstream_429"] == 1
    assert hour["refusals"] == 1 and hour["signals"]["input_flag:violence"] == 1
    assert team_a["score"] > team_b["score"] == 0 and team_b["level"] == "good"
    assert next(iter(rows)) == "team-a"  # the worst standing first
    assert team_a["project"] == "proj_a" and team_a["fingerprint"] == "sk-proj-…aaaa"
    assert team_a["virtual_keys"] == 1 and team_a["configured"]
    one = httpx.get(f"{gw.url}/admin/api/upstream/team-a",
                    headers={"authorization": f"Bearer {ADMIN}"}).json()
    assert one["windows"]["1h"]["upstream_policy"] == 3
    missing = httpx.get(f"{gw.url}/admin/api/upstream/team-zz",
                        headers={"authorization": f"Bearer {ADMIN}"})
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "name"
    schema = httpx.get(f"{gw.url}/admin/api/openapi.json",
                       headers={"authorization": f"Bearer {ADMIN}"}).json()
    assert {"/admin/api/upstream", "/admin/api/upstream/{name}"} <= set(schema["paths"])
    # the CLI reads the same audit log
    assert main(["upstream", "list"]) == 0
    table = capsys.readouterr().out
    header, first = table.splitlines()[:2]
    assert header.split()[:2] == ["NAME", "PROJECT"] and first.split()[0] == "team-a"
    assert main(["upstream", "show", "team-a"]) == 0
    shown = capsys.readouterr().out
    assert "upstream_policy" in shown and "input_flag:violence" in shown
    assert main(["upstream", "show", "team-a", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["windows"]["24h"]["upstream_policy"] == 3
    assert main(["upstream", "show", "team-zz"]) == 2
    assert "no upstream key named 'team-zz'" in capsys.readouterr().err
    everything = json.dumps(rows) + table + shown
    assert TEAM_A not in everything and TEAM_B not in everything


def _notify(gw: Any, event: dict[str, Any]) -> httpx.Response:
    body, headers = delivery(event)
    return httpx.post(f"{gw.url}/webhooks/openai", content=body, headers=headers)


def test_an_enforcement_notice_naming_a_project_counts_against_that_upstream_key(teams, capsys):
    gw, a, b = teams
    a.chat.completions.create(**{**_say("hello there"), "safety_identifier": "mallory"})
    b.chat.completions.create(**{**_say("hello there"), "user": "b0"})
    sid = safety_identifier(gw.settings.identity.secret.encode(), "app-a", "mallory")
    deadline = time.time() + 10
    while not gw.store_call("lookup_identity", sid) and time.time() < deadline:
        time.sleep(0.05)  # the identity mapping is written in the background
    notice = blocked(sid)
    notice["data"]["project_id"] = "proj_a"  # safety_identifier.blocked names the project
    answer = _notify(gw, notice)
    assert answer.status_code == 200 and answer.json()["outcome"] == "acted"
    elsewhere = blocked(sid)
    elsewhere["data"]["project_id"] = "proj_not_ours"  # acted on, attributed to no key
    assert _notify(gw, elsewhere).json()["outcome"] == "acted"
    rows: dict[str, Any] = {}
    deadline = time.time() + 10
    while time.time() < deadline:
        rows = _views(gw, 1)
        if rows["team-a"]["windows"]["1h"]["enforcement_notices"] >= 1:
            break
        time.sleep(0.1)
    team_a, team_b = rows["team-a"], rows["team-b"]
    hour = team_a["windows"]["1h"]
    assert hour["enforcement_notices"] == 1 and hour["signals"]["enforcement_webhook"] == 1
    assert hour["requests"] == 1  # a notice about the project, not a call through it
    assert team_a["score"] >= 85 and team_a["level"] in ("at_risk", "critical")
    assert team_b["windows"]["1h"]["enforcement_notices"] == 0 and team_b["score"] == 0
    assert "default" not in rows or rows["default"]["windows"]["1h"]["enforcement_notices"] == 0
    assert main(["upstream", "show", "team-a"]) == 0  # the CLI reads the same audit log
    shown = capsys.readouterr().out
    assert "enforcement_notices" in shown and "enforcement_webhook 1" in shown
