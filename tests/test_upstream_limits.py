"""Upstream rate-limit discipline (issue 14): OpenAI's x-ratelimit-* headers are believed.

Through a real gateway and the simulated upstream: when OpenAI reports nothing left, the
gateway answers its own 429 (with retry-after) without calling it; an upstream 429 holds the
model back (with jitter) instead of letting clients hammer it; insufficient_quota is not
retried, alerted, and answered by the gateway for a while without calling OpenAI.
"""

from __future__ import annotations

import json
import time
from typing import Any

import openai
import pytest

from goodstanding.abuse.upstream_limits import UpstreamLimits, _retry_after
from goodstanding.moderation.budget import go_duration
from goodstanding.ops.signals import signals_of
from goodstanding.settings import UpstreamDiscipline
from goodstanding.simulate.ratelimit import Window
from tests import test_ops_alerts
from tests.test_ops_alerts import alerting, listed, wait_for

receivers = test_ops_alerts.receivers  # a fixture

MODEL = "gpt-4o-mini"
CHAT = "/v1/chat/completions"


def ask(gw: Any, text: str = "hello", retries: int = 0) -> Any:
    return gw.client(max_retries=retries).chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": text}], safety_identifier="alice")


@pytest.fixture
def small_window(sim: Any):
    """The simulated organization allows 2 requests a minute (restored afterwards)."""
    default = sim.window
    sim.window = Window(requests_per_min=2, tokens_per_min=1_000_000)
    yield sim.window
    sim.window = default


def test_go_durations_as_openai_writes_them():
    assert go_duration("6m0s") == 360.0
    assert go_duration("1.5s") == 1.5
    assert go_duration("20ms") == pytest.approx(0.02)
    assert go_duration("1h2m3s") == 3723.0
    assert _retry_after({"retry-after-ms": "250"}) == 0.25
    assert _retry_after({"x-ratelimit-remaining-requests": "0",
                         "x-ratelimit-reset-requests": "6m0s"}) == 360.0
    assert _retry_after({"x-ratelimit-remaining-requests": "3",
                         "x-ratelimit-reset-requests": "6m0s"}) is None


def test_nothing_left_upstream_means_our_own_429_without_calling_openai(gw, sim, small_window):
    for _ in range(2):
        ask(gw)
    assert sim.calls[CHAT] == 2
    with pytest.raises(openai.RateLimitError) as caught:
        ask(gw)
    assert sim.calls[CHAT] == 2  # OpenAI was not called
    answer = caught.value.response
    assert answer.json()["error"]["code"] == "rate_limit_exceeded"
    wait = int(answer.headers["retry-after"])
    assert 1 <= wait <= 60  # the simulated window refills within the minute


def test_an_upstream_429_holds_the_model_back_with_jitter(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_SIGNALS__UPSTREAM__JITTER="0.5")
    with pytest.raises(openai.RateLimitError):
        ask(gw, "hello [[fault:429]]")  # upstream's own, retry-after: 1
    assert sim.calls[CHAT] == 1
    with pytest.raises(openai.RateLimitError) as caught:
        ask(gw)
    assert sim.calls[CHAT] == 1  # held: not sent again at once
    assert caught.value.response.headers["retry-after"] in ("1", "2")
    time.sleep(1.6)  # 1 s retry-after + at most 50 % jitter
    assert ask(gw).http_response.status_code == 200
    assert sim.calls[CHAT] == 2


def test_the_sdk_retrying_a_held_429_comes_through_after_the_hold(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_SIGNALS__UPSTREAM__JITTER="0")
    with pytest.raises(openai.RateLimitError):
        ask(gw, "hello [[fault:429]]")
    # the SDK honours our retry-after: its retry after the hold reaches OpenAI once
    assert ask(gw, retries=2).http_response.status_code == 200
    assert sim.calls[CHAT] == 2


def test_insufficient_quota_is_not_retried_is_alerted_and_then_held(start_gateway, sim,
                                                                     receivers):
    hook, url = receivers()
    gw = alerting(start_gateway, {"ops": {"type": "json", "url": url}})
    with pytest.raises(openai.RateLimitError) as caught:
        ask(gw, "hello [[fault:insufficient_quota]]", retries=3)
    assert sim.calls[CHAT] == 1  # the SDK did not retry: x-should-retry: false
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert caught.value.code == "insufficient_quota"
    wait_for(lambda: any(a["rule"] == "insufficient-quota" for a in hook.received))
    # until the hold ends, the gateway answers it itself: OpenAI is not called
    with pytest.raises(openai.RateLimitError) as held:
        ask(gw, retries=3)
    assert sim.calls[CHAT] == 1
    assert held.value.code == "insufficient_quota"
    assert held.value.response.headers["x-should-retry"] == "false"
    assert 1 <= int(held.value.response.headers["retry-after"]) <= 30
    assert any(a["rule"] == "insufficient-quota" for a in listed(gw))
    assert "OPENAI" not in json.dumps(hook.received)


def test_discipline_can_be_turned_off(start_gateway, sim, small_window):
    gw = start_gateway(GOODSTANDING_SIGNALS__UPSTREAM__ENABLED="false")
    for _ in range(3):
        ask(gw)
    assert sim.calls[CHAT] == 3  # the simulator never refuses on its own


async def test_the_picture_is_bounded_and_counts_as_a_standing_signal():
    from goodstanding.call import Call
    from goodstanding.errors import RateLimitExceeded

    limits = UpstreamLimits(UpstreamDiscipline(max_wait=0))
    for i in range(3000):
        limits.picture("default", f"model-{i}")
    assert len(limits.pictures) <= 1024
    call = Call("r1", "POST", CHAT, "chat.completions", {}, "127.0.0.1", raw_body=b"{}",
                body={}, model=MODEL)
    limits.observe(call, "default", 200, {"x-ratelimit-limit-requests": "10",
                                          "x-ratelimit-remaining-requests": "0",
                                          "x-ratelimit-reset-requests": "6m0s"}, None)
    with pytest.raises(RateLimitExceeded) as caught:
        await limits.admit(call, "default")
    assert 30 <= int(caught.value.headers["retry-after"]) <= 37  # one request refills in 36 s
    call.reasons.extend(caught.value.reasons)
    assert "upstream_held" in signals_of(call)


def test_a_picture_far_from_its_limit_is_read_at_most_every_refresh_but_near_it_every_time():
    from goodstanding.abuse.upstream_limits import REFRESH_S
    from goodstanding.call import Call

    limits = UpstreamLimits(UpstreamDiscipline(max_wait=0))
    call = Call("r1", "POST", CHAT, "chat.completions", {}, "127.0.0.1", raw_body=b"{}",
                body={}, model=MODEL)

    def answer(left: int) -> None:
        limits.observe(call, "default", 200, {"x-ratelimit-limit-requests": "10000",
                                              "x-ratelimit-remaining-requests": str(left),
                                              "x-ratelimit-reset-requests": "6m0s"}, None)

    picture = limits.picture("default", MODEL)
    answer(9000)
    assert picture.requests.left == 9000
    answer(8000)  # far from the limit, within REFRESH_S: this worker's own count stands
    assert picture.requests.left == 9000
    time.sleep(REFRESH_S + 0.05)
    answer(3000)  # read again: now under half the limit
    assert picture.requests.left == 3000
    answer(0)  # near the limit every answer counts
    assert picture.requests.left == 0


@pytest.mark.parametrize("limit,left", [("nan", "nan"), ("-5", "-10"), ("0", "0"),
                                        ("inf", "3"), ("10", "1e400")])
async def test_figures_openai_never_sends_do_not_make_the_gateway_refuse_itself(limit, left):
    """A broken proxy's "nan" or "-5" is not believed: before, each made the gateway answer
    its own 429 for a minute without calling OpenAI."""
    from goodstanding.call import Call

    limits = UpstreamLimits(UpstreamDiscipline(max_wait=0))
    call = Call("r1", "POST", CHAT, "chat.completions", {}, "127.0.0.1", raw_body=b"{}",
                body={}, model=MODEL)
    limits.observe(call, "default", 200, {"x-ratelimit-limit-requests": limit,
                                          "x-ratelimit-remaining-requests": left,
                                          "x-ratelimit-reset-requests": "1s"}, None)
    await limits.admit(call, "default")  # sent: no RateLimitExceeded
    assert limits.picture("default", MODEL).requests.limit is None
