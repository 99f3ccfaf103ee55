"""Strikes, suspensions and bans as a client sees them: the official SDK through a real server."""

from __future__ import annotations

from typing import Any

import openai
import pytest

MODEL = "gpt-4o-mini"
HELLO: Any = [{"role": "user", "content": "hello there"}]
FLAGGED: Any = [{"role": "user", "content": "something bad [[fault:invalid_prompt]]"}]


def flagged(client: openai.OpenAI, user: str) -> openai.BadRequestError:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=FLAGGED, safety_identifier=user)
    return caught.value


def test_three_flagged_prompts_suspend_and_the_fourth_request_is_refused(gw, sim):
    client = gw.client()
    first = flagged(client, "mallory")
    assert first.code == "invalid_prompt"  # the upstream's answer still comes through
    assert "strike 1" in first.response.headers["x-goodstanding-warning"]
    flagged(client, "mallory")
    third = flagged(client, "mallory")
    assert "suspended for 24h" in third.response.headers["x-goodstanding-warning"]
    sent = sim.calls["/v1/chat/completions"]
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="mallory")
    assert caught.value.code == "end_user_suspended"
    headers = caught.value.response.headers
    assert 86390 <= int(headers["retry-after"]) <= 86400
    assert headers["x-should-retry"] == "false"
    assert sim.calls["/v1/chat/completions"] == sent  # refused before any upstream call
    # the strikes are durable, with reasons and categories, never the prompt text
    strikes = gw.store_call("strikes_of", "test-app", "mallory")
    assert [s.categories for s in strikes] == [("invalid_prompt",)] * 3
    assert "something bad" not in repr(strikes)
    # other end users are not affected
    assert client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="alice")


def test_a_benign_request_carries_no_warning(gw, sim):
    raw = gw.client().chat.completions.with_raw_response.create(
        model=MODEL, messages=HELLO, safety_identifier="alice")
    assert "x-goodstanding-warning" not in raw.headers


def test_banned_end_user_is_refused(gw, sim):
    from goodstanding.enforcement.standing import Action, Standing

    gw.store_call("set_standing", Standing("test-app", "eve", "banned", None, "test", 1.0),
                  Action("test-app", "eve", 1.0, "ban", "test"))
    with pytest.raises(openai.PermissionDeniedError) as caught:
        gw.client().chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="eve")
    assert caught.value.code == "end_user_banned"
    assert sim.calls["/v1/chat/completions"] == 0
