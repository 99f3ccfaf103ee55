"""Per-key moderation overrides (SPEC §2), through a real gateway with the official SDK.

One gateway, two keys: the default key follows the gateway's moderation settings; the other
key's ``policy.moderation`` (set with the admin API or the CLI) changes them for its own calls.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from goodstanding.call import VirtualKey
from goodstanding.cli import main
from goodstanding.moderation.judge import Judge
from goodstanding.moderation.per_key import PerKey
from goodstanding.settings import ModerationSettings
from tests.conftest import gateway_env

MODEL = "gpt-4o-mini"
FLAGGED = [{"role": "user", "content": "[[flag:violence]] the flagged prompt"}]
VIOLENT = "I will kill you"
ADMIN = "admin-token-0123456789abcdef"


@pytest.fixture
def admin_gw(start_gateway):
    return start_gateway(GOODSTANDING_ADMIN_TOKEN=ADMIN)


def admin(gw: Any) -> httpx.Client:
    return httpx.Client(base_url=f"{gw.url}/admin/api", timeout=10,
                        headers={"Authorization": f"Bearer {ADMIN}"})


def new_key(gw: Any, name: str, moderation: dict[str, Any]) -> tuple[str, openai.OpenAI]:
    with admin(gw) as api:
        created = api.post("/keys", json={"name": name, "policy": {"moderation": moderation}})
    assert created.status_code == 201, created.text
    body = created.json()
    return body["id"], gw.client(api_key=body["key"])


def chat(client: openai.OpenAI, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
    return client.chat.completions.create(model=MODEL, messages=messages,
                                          safety_identifier="u1", **kwargs)


def records(gw: Any, key_id: str, count: int = 1) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10  # allowed calls are written in batches
    while True:
        found = [r for r in gw.store_call("query_audit", key_id=key_id)
                 if r["endpoint"] == "chat.completions"]  # not the admin's own record
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_a_key_with_input_off_forwards_a_flagged_prompt_the_default_key_refuses(admin_gw, sim):
    with pytest.raises(openai.BadRequestError) as caught:
        chat(admin_gw.client(), FLAGGED)
    assert caught.value.code == "content_policy_violation"
    assert sim.calls["/v1/chat/completions"] == 0

    key_id, lenient = new_key(admin_gw, "lenient", {"input": "off"})
    answer = chat(lenient, FLAGGED)
    assert answer.choices[0].message.content
    assert sim.calls["/v1/chat/completions"] == 1  # forwarded
    (record,) = records(admin_gw, key_id)
    assert record["decision"] == "allowed" and record["endpoint"] == "chat.completions"

    with pytest.raises(openai.BadRequestError):  # the default key still refuses it
        chat(admin_gw.client(), FLAGGED)
    assert sim.calls["/v1/chat/completions"] == 1


def test_a_key_in_flag_mode_forwards_and_records_the_categories(admin_gw, sim):
    key_id, watched = new_key(admin_gw, "watched", {"input": "flag"})
    chat(watched, FLAGGED)
    assert sim.calls["/v1/chat/completions"] == 1
    (record,) = records(admin_gw, key_id)
    assert record["decision"] == "flagged" and "moderation:violence" in record["reasons"]


def test_a_zero_tolerance_category_refuses_even_for_a_key_with_input_flag(admin_gw, sim):
    _, watched = new_key(admin_gw, "watched", {"input": "flag"})
    with pytest.raises(openai.BadRequestError) as caught:
        chat(watched, [{"role": "user", "content": "[[flag:sexual/minors]] hi"}])
    assert "sexual/minors" in caught.value.message
    assert sim.calls["/v1/chat/completions"] == 0


def test_a_keys_threshold_and_category_switch_apply_to_its_calls_only(admin_gw, sim):
    # the simulator scores a forced flag 0.99: a 1.0 threshold lets it through for this key
    _, tuned = new_key(admin_gw, "tuned", {"thresholds": {"violence": 1.0}})
    chat(tuned, FLAGGED)
    _, switched = new_key(admin_gw, "switched", {"categories": {"violence": "off"}})
    chat(switched, FLAGGED)
    assert sim.calls["/v1/chat/completions"] == 2
    with pytest.raises(openai.BadRequestError):
        chat(switched, [{"role": "user", "content": "[[flag:harassment]] hi"}])


def test_a_keys_on_error_fail_open_forwards_during_an_outage_the_default_key_refuses(
        admin_gw, sim):
    _, tolerant = new_key(admin_gw, "tolerant", {"on_error": "fail_open", "output": "off"})
    sim.config.moderation = "down"
    with pytest.raises(openai.InternalServerError) as caught:
        chat(admin_gw.client(), [{"role": "user", "content": "hello"}])
    assert caught.value.code == "moderation_unavailable"
    chat(tolerant, [{"role": "user", "content": "hello"}])
    assert sim.calls["/v1/chat/completions"] == 1


def cli(gw: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any, *args: str) -> tuple[int, str]:
    """``goodstanding ARGS`` against the gateway's database, as an operator would run it."""
    folder = Path(gw.db_url.removeprefix("sqlite:///")).parent
    for name, value in gateway_env(folder, "http://127.0.0.1:9").items():
        monkeypatch.setenv(name, value)  # the same database as the running gateway's
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_an_output_override_set_with_the_cli_applies_to_the_running_gateway(
        admin_gw, sim, monkeypatch, capsys):
    said = [{"role": "user", "content": f"[[say:{VIOLENT}]]"}]
    withheld = chat(admin_gw.client(), said)  # the default key: the answer is withheld
    assert withheld.choices[0].finish_reason == "content_filter"

    code, out = cli(admin_gw, monkeypatch, capsys, "keys", "create", "open-answers",
                    "--moderation-output", "off", "--json")
    assert code == 0, out
    created = json.loads(out)
    open_answers = admin_gw.client(api_key=created["key"])
    assert chat(open_answers, said).choices[0].message.content == VIOLENT

    # `keys policy` changes the key while the gateway runs: its answers are withheld again
    code, out = cli(admin_gw, monkeypatch, capsys, "keys", "policy", created["id"],
                    "--moderation-output", "block", "--json")
    assert code == 0 and json.loads(out)["policy"] == {"moderation": {"output": "block"}}
    deadline = time.monotonic() + 10
    while chat(open_answers, said).choices[0].finish_reason != "content_filter":
        assert time.monotonic() < deadline, "the gateway kept the old override"
        time.sleep(0.2)


@pytest.mark.parametrize(("moderation", "says"), [
    ({"model": "text-moderation-stable"}, "not overridable per key"),
    ({"window_chars": 100}, "not overridable per key"),
    ({"input": "maybe"}, "input"),
    ({"thresholds": {"violence": 2}}, "less than or equal to 1"),
    ({"categories": {"sexual/minors": "off"}}, "zero-tolerance category cannot be off"),
])
def test_an_invalid_override_is_refused_with_a_clear_error(admin_gw, moderation, says):
    with admin(admin_gw) as api:
        created = api.post("/keys", json={"name": "bad", "policy": {"moderation": moderation}})
        changed = api.put(f"/keys/{admin_gw.key_id}/policy", json={"moderation": moderation})
        kept = api.get(f"/keys/{admin_gw.key_id}/policy")
    for answer in (created, changed):
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == "invalid_request"
        assert says in answer.json()["error"]["message"]
    assert kept.json() == {}  # nothing was stored


def test_a_key_cannot_turn_on_a_direction_the_gateway_does_not_moderate(
        start_gateway, monkeypatch, capsys):
    gw = start_gateway(GOODSTANDING_ADMIN_TOKEN=ADMIN, GOODSTANDING_MODERATION__INPUT="off")
    with admin(gw) as api:
        refused = api.put(f"/keys/{gw.key_id}/policy", json={"moderation": {"input": "block"}})
    assert refused.status_code == 400
    assert "does not moderate input" in refused.json()["error"]["message"]
    monkeypatch.setenv("GOODSTANDING_MODERATION__INPUT", "off")
    code, out = cli(gw, monkeypatch, capsys, "keys", "policy", gw.key_id,
                    "--moderation-input", "block")
    assert code == 2 and "does not moderate input" in out and "Traceback" not in out


def test_the_cli_names_the_bad_field_of_an_invalid_override(admin_gw, monkeypatch, capsys):
    code, out = cli(admin_gw, monkeypatch, capsys, "keys", "policy", admin_gw.key_id,
                    "--moderation-threshold", "violence=2")
    assert code == 2 and "moderation.thresholds.violence" in out and "Traceback" not in out
    code, out = cli(admin_gw, monkeypatch, capsys, "keys", "policy", admin_gw.key_id,
                    "--moderation-category", "sexual/minors=off")
    assert code == 2 and "zero-tolerance" in out


# --- resolved once per key --------------------------------------------------------------------


def _key(policy: dict[str, Any]) -> VirtualKey:
    return VirtualKey(id="k1", name="k", tenant="k", secret_hash="", created_at=0.0,
                      policy=policy)


def test_a_keys_effective_settings_are_resolved_once_and_again_when_its_policy_changes():
    judges = {local: Judge(None, None, local) for local in (False, True)}  # type: ignore[arg-type]
    keys = PerKey(ModerationSettings(thresholds={"hate": 0.5}), judges)
    assert keys.of(None) is keys.default and keys.of(_key({})) is keys.default
    lenient = _key({"moderation": {"input": "off", "thresholds": {"violence": 0.9},
                                   "on_error": "local"}})
    first = keys.of(lenient)
    assert first is keys.of(lenient)  # cached: one dict lookup per call
    assert (first.input, first.output) == ("off", "block")  # output: the gateway's
    assert first.policy.thresholds == {"hate": 0.5, "violence": 0.9}
    assert first.judge is judges[True] and keys.default.judge is judges[False]
    changed = keys.of(_key({"moderation": {"input": "flag"}}))  # same id, new policy
    assert changed.input == "flag" and changed.policy.thresholds == {"hate": 0.5}


def test_a_stored_override_no_longer_valid_falls_back_to_the_gateways_settings():
    judges = {local: Judge(None, None, local) for local in (False, True)}  # type: ignore[arg-type]
    # the gateway has since made violence zero-tolerance: the key may not switch it off
    keys = PerKey(ModerationSettings(zero_tolerance=("violence",)), judges)
    stale = keys.of(_key({"moderation": {"categories": {"violence": "off"}, "input": "off"}}))
    assert stale is keys.default


def test_the_keys_policy_command_keeps_the_keys_other_overrides(admin_gw, monkeypatch, capsys):
    with admin(admin_gw) as api:
        assert api.put(f"/keys/{admin_gw.key_id}/policy",
                       json={"limits": {"end_user": {"rpm": 50}}}).status_code == 200
    code, out = cli(admin_gw, monkeypatch, capsys, "keys", "policy", admin_gw.key_id,
                    "--moderation-input", "flag", "--json")
    assert code == 0
    assert json.loads(out)["policy"] == {"limits": {"end_user": {"rpm": 50}},
                                         "moderation": {"input": "flag"}}
    code, out = cli(admin_gw, monkeypatch, capsys, "keys", "policy", admin_gw.key_id,
                    "--reset-moderation", "--json")
    assert json.loads(out)["policy"] == {"limits": {"end_user": {"rpm": 50}}}
    stored = asyncio.run(_stored_policy(admin_gw))
    assert stored == {"limits": {"end_user": {"rpm": 50}}}


async def _stored_policy(gw: Any) -> dict[str, Any]:
    from goodstanding.stores import open_store

    store = open_store(gw.db_url)
    try:
        key = await store.get_key(gw.key_id)
        assert key is not None
        return key.policy
    finally:
        await store.close()
