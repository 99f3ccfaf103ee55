"""Traffic spikes and the ramp governor (issue 14)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from goodstanding.abuse.ramp import BUCKETS, Ramp
from goodstanding.settings import RampSettings

MODEL = "gpt-4o-mini"
CHAT = "/v1/chat/completions"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run(ramp: Ramp, clock: Clock, per_bucket: int, buckets: int, tier: str = "verified",
        key: str = "k1") -> tuple[int, list[str]]:
    """Offer ``per_bucket`` calls in each of ``buckets`` buckets; (admitted, spike reasons)."""
    admitted, spikes = 0, []
    for _ in range(buckets):
        for _ in range(per_bucket):
            decision = ramp.admit(key, tier)
            admitted += decision.wait == 0
            spikes += decision.spikes
        clock.now += ramp.width
    return admitted, spikes


def test_a_five_fold_jump_is_recorded_once_as_a_spike():
    clock = Clock()
    ramp = Ramp(RampSettings(window="15m", spike_floor=50, governor=False), clock)
    admitted, spikes = run(ramp, clock, 20, 10)  # a steady 20 a minute: no spike
    assert spikes == [] and admitted == 200
    admitted, spikes = run(ramp, clock, 100, 1)  # 5 × in one minute
    assert spikes == ["traffic_spike:org:x5.0", "traffic_spike:key:x5.0"]
    _, spikes = run(ramp, clock, 100, 3)  # the new level becomes the baseline
    assert all(float(s.rsplit("x", 1)[1]) < 5 for s in spikes)


def test_the_governor_caps_growth_at_half_a_window_more():
    clock = Clock()
    ramp = Ramp(RampSettings(window="15m", floor=100, growth=0.5, spike_floor=10_000), clock)
    run(ramp, clock, 10, 2 * BUCKETS)  # two windows of 150: learned
    admitted, _ = run(ramp, clock, 50, BUCKETS)  # offered 750 in the next window
    assert admitted == 225  # 1.5 × 150
    admitted, _ = run(ramp, clock, 50, BUCKETS)  # and 1.5 × that in the one after
    assert admitted == pytest.approx(337, abs=1)


def test_the_anonymous_tier_is_shed_first():
    clock = Clock()
    ramp = Ramp(RampSettings(window="15m", floor=100, shed_share=0.9), clock)
    clock.now = 2 * BUCKETS * ramp.width  # learned: nothing before, the floor rules
    assert run(ramp, clock, 95, 1, tier="anonymous")[0] == 90
    assert run(ramp, clock, 20, 1, tier="verified")[0] == 10


def test_a_restarted_gateway_learns_before_it_sheds():
    clock = Clock()
    ramp = Ramp(RampSettings(window="15m", floor=10), clock)
    assert run(ramp, clock, 100, 2)[0] == 200


def ask(gw, user: str = "alice") -> tuple[str, float]:
    started = time.monotonic()
    try:
        gw.client().chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hello"}], safety_identifier=user)
        return "ok", time.monotonic() - started
    except openai.RateLimitError as exc:
        assert int(exc.response.headers["retry-after"]) >= 1
        assert "ramp" in exc.message
        return "shed", time.monotonic() - started


def test_without_a_queue_the_governor_answers_429_at_once(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_SIGNALS__RAMP__WINDOW="1s",
                       GOODSTANDING_SIGNALS__RAMP__FLOOR="5",
                       GOODSTANDING_SIGNALS__RAMP__QUEUE="0",
                       GOODSTANDING_LIMITS__END_USER__RPM="1000",
                       GOODSTANDING_STORAGE__TIMEOUT="10")
    time.sleep(2.2)  # two windows: the process has learned
    with ThreadPoolExecutor(10) as pool:
        outcomes = [outcome for outcome, _ in pool.map(lambda n: ask(gw, f"u{n}"), range(10))]
    assert 4 <= outcomes.count("ok") <= 6 and "shed" in outcomes, outcomes
    assert sim.calls[CHAT] == outcomes.count("ok")


def test_the_governor_holds_calls_for_budget_then_sheds_the_rest(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_SIGNALS__RAMP__WINDOW="1500ms",
                       GOODSTANDING_SIGNALS__RAMP__FLOOR="5",
                       GOODSTANDING_SIGNALS__RAMP__QUEUE="1",
                       GOODSTANDING_LIMITS__END_USER__RPM="1000",
                       GOODSTANDING_STORAGE__TIMEOUT="10")
    time.sleep(3.2)  # two windows: the process has learned
    first = [ask(gw, "first")[0] for _ in range(5)]  # the window's whole allowance
    assert first == ["ok"] * 5
    time.sleep(0.8)  # the first calls leave the window ~0.7 s from now: within the queue
    with ThreadPoolExecutor(10) as pool:
        burst = list(pool.map(lambda n: ask(gw, f"burst-{n}"), range(10)))
    sent = [took for outcome, took in burst if outcome == "ok"]
    shed = [took for outcome, took in burst if outcome == "shed"]
    assert sent and shed, burst
    assert min(sent) >= 0.2  # held until budget freed, then sent
    assert sim.calls[CHAT] == 5 + len(sent)
