"""The standing score: counted from real calls, read as a report, aged with an injected clock."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import openai
import pytest

from goodstanding.call import Call, Offence, VirtualKey
from goodstanding.endusers.identity import safety_identifier
from goodstanding.ops.counts import MemoryCounts, RedisCounts
from goodstanding.ops.schemas import StandingOut
from goodstanding.ops.signals import signals_of
from goodstanding.ops.standing import StandingMonitor, pressure, score_of
from tests.test_webhooks import SECRET, blocked, delivery, known_user, post

MODEL = "gpt-4o-mini"
HOUR, DAY = 3600.0, 86400.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def on_loop(gw: Any, work: Any) -> Any:
    """Run a coroutine on the gateway's own event loop (where its counts live)."""
    return asyncio.run_coroutine_threadsafe(work, gw.gateway.ops.loop).result(10)


def report(gw: Any) -> dict[str, Any]:
    found = on_loop(gw, gw.gateway.ops.standing())
    StandingOut.model_validate(found)  # the admin API's documented shape, exactly
    json.dumps(found)  # and JSON as it is
    return found


def chat(gw: Any, text: str, user: str) -> None:
    try:
        gw.client().chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": text}], safety_identifier=user)
    except openai.APIStatusError:
        pass  # refusals are what this test is about


def signal(window: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in window["signals"] if s["signal"] == name)


@pytest.fixture
def hooked(start_gateway):
    gw = start_gateway(OPENAI_WEBHOOK_SECRET=SECRET)
    gw.gateway.enforcer.cache.ttl = 0
    return gw


def test_score_rises_on_flags_a_webhook_and_zero_tolerance_then_falls_as_windows_age(hooked, sim):
    gw = hooked
    clock = Clock(time.time())
    gw.gateway.ops.clock = clock
    sid = known_user(gw, "victor")
    for i in range(9):
        chat(gw, "hello there", f"user-{i}")
    calm = report(gw)
    assert calm["score"] == 0 and calm["estimate"] is True
    assert calm["windows"]["1h"]["requests"] == 10
    assert calm["actions"][0].startswith("Nothing to do")

    for _ in range(3):  # three violence flags, all from one end user
        chat(gw, "[[flag:violence]] something", "mallory")
    flagged = report(gw)
    hour = flagged["windows"]["1h"]
    violence = signal(hour, "input_flag:violence")
    assert violence["count"] == 3 and violence["trend"] == "new"
    assert 0 < flagged["score"] < 85
    assert violence["contribution"] == pytest.approx(hour["score"], abs=0.1)
    [driver] = violence["end_users"]
    assert (driver["tenant"], driver["id"], driver["share"]) == ("test-app", "mallory", 1.0)
    assert [k["id"] for k in violence["keys"]] == [gw.key_id]
    assert "1 end user produces 100 % of flagged prompts (violence)" in flagged["actions"][0]
    assert "review and ban" in flagged["actions"][0]
    # an action is what a standing alert says (Slack, email): the end user by pseudonym only
    who = safety_identifier(gw.settings.identity.secret.encode(), "test-app", "mallory")[:16]
    assert f"(test-app/{who})" in flagged["actions"][0] and "mallory" not in flagged["actions"][0]

    assert post(gw, *delivery(blocked(sid))).json()["outcome"] == "acted"
    warned = report(gw)
    assert warned["score"] > flagged["score"] and warned["score"] >= 85
    assert signal(warned["windows"]["24h"], "enforcement_webhook")["count"] == 1

    chat(gw, "[[flag:sexual/minors]] something", "eve")
    worst = report(gw)
    assert worst["score"] >= 90 and worst["level"] == "critical"
    zero = signal(worst["windows"]["1h"], "zero_tolerance")
    assert zero["count"] == 1 and zero["end_users"][0]["id"] == "eve"
    assert worst["windows"]["1h"]["signals"][0]["signal"] == "zero_tolerance"  # it dominates

    clock.now += 2 * HOUR  # the 1 h window has moved past every event
    later = report(gw)
    assert later["windows"]["1h"]["score"] == 0
    assert later["windows"]["24h"]["score"] == worst["windows"]["24h"]["score"]
    assert later["score"] >= 90  # the longer windows still remember

    clock.now += DAY  # 26 h later: gone from the 24 h window, seen in the one before it
    days = report(gw)
    assert days["windows"]["24h"]["score"] == 0 and days["windows"]["7d"]["score"] >= 90
    assert signal(days["windows"]["24h"], "zero_tolerance")["trend"] == "gone"

    clock.now += 8 * DAY
    gone = report(gw)
    assert gone["score"] == 0 and all(w["score"] == 0 for w in gone["windows"].values())


def call_with(reasons: list[str], *, status: int = 400, decision: str = "refused",
              zero: bool = False, user: str = "u1") -> Call:
    call = Call("req", "POST", "/v1/chat/completions", "chat.completions", {}, "127.0.0.1")
    call.key = VirtualKey("key1", "app", "tenant", "h", 0.0)
    call.end_user, call.status, call.decision = user, status, decision
    call.reasons.extend(reasons)
    if zero:
        call.offences.append(Offence("content_policy_violation", ("sexual/minors",), True))
    return call


@pytest.mark.parametrize(("reasons", "status", "decision", "zero", "expected"), [
    ([], 200, "allowed", False, []),
    (["moderation:violence", "strike"], 400, "refused", False, ["input_flag:violence"]),
    (["detect:hate"], 200, "flagged", False, ["input_flag:hate"]),
    (["output:harassment"], 200, "output_withheld", False, ["output_flag:harassment"]),
    (["jailbreak_detected"], 400, "refused", False, ["jailbreak"]),
    (["upstream:invalid_prompt"], 400, "upstream_error", False, ["upstream_policy"]),
    (["upstream:content_filter"], 200, "allowed", False, ["upstream_policy"]),
    (["upstream:rate_limit_exceeded"], 429, "upstream_error", False, ["upstream_429"]),
    (["rate_limit_exceeded"], 429, "refused", False, []),  # our own limit is not OpenAI's
    (["unsupported_country:KP"], 403, "refused", False, ["unsupported_country"]),
    (["moderation:sexual/minors"], 400, "refused", True,
     ["input_flag:sexual/minors", "zero_tolerance"]),
])
def test_signals_are_read_off_a_finished_call(reasons, status, decision, zero, expected):
    assert signals_of(call_with(reasons, status=status, decision=decision, zero=zero)) == expected


def test_severity_weighs_a_share_and_zero_tolerance_sets_a_floor():
    requests = {"requests": 1000}
    mild = score_of({**requests, "input_flag:harassment": 10}, DAY)[0]
    grave = score_of({**requests, "input_flag:illicit/violent": 10}, DAY)[0]
    assert 0 < mild < grave < 90
    score, parts = score_of({**requests, "zero_tolerance": 1, "jailbreak": 3}, DAY)
    assert score >= 90 and parts["zero_tolerance"] > parts["jailbreak"]
    assert sum(parts.values()) == pytest.approx(score)
    # the same count weighs more in a short window than spread over a week
    assert pressure("jailbreak", 5, 100, HOUR) > pressure("jailbreak", 5, 100, 7 * DAY)


async def test_in_process_counts_report_trends_against_the_window_before():
    clock = Clock(1_800_000_000.0)
    monitor = StandingMonitor(MemoryCounts(), clock)
    for _ in range(2):
        monitor.count(call_with(["jailbreak_detected"]))
    await monitor.flush()
    clock.now += HOUR
    for _ in range(6):
        monitor.count(call_with(["jailbreak_detected"], user="u2"))
    await monitor.flush()
    hour = (await monitor.report()).window("1h")
    [jailbreak] = hour.signals
    assert (jailbreak.count, jailbreak.previous, jailbreak.trend) == (6, 2, "rising")
    assert hour.score > hour.previous_score > 0


@pytest.mark.redis
async def test_every_worker_reads_the_same_score_from_redis():
    import secrets

    from tests.services import redis_url

    prefix = f"gs:test:{secrets.token_hex(4)}:"
    clock = Clock(time.time())
    first = StandingMonitor(RedisCounts(redis_url(), prefix), clock)
    second = StandingMonitor(RedisCounts(redis_url(), prefix), clock)
    try:
        first.count(call_with(["moderation:violence"], user="a"))
        second.count(call_with(["moderation:violence"], user="b"))
        second.count(call_with([], status=200, decision="allowed"))
        await first.flush()
        await second.flush()
        one, two = await first.report(), await second.report()
        assert one.score == two.score > 0
        [violence] = one.window("1h").signals
        assert violence.count == 2 and one.window("1h").requests == 3
        assert {d.id for d in violence.end_users} == {"a", "b"}
    finally:
        await first.counts.close()
        await second.counts.close()
