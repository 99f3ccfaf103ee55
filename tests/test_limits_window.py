"""The sliding-window limiter on a fake clock: never more than the limit in any window."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from goodstanding.limits.ratelimit import Limit, go_duration
from goodstanding.stores.counters_memory import MemoryCounters

RPM = Limit("k:rpm", "end-user requests per minute", 5, 60.0)
TPM = Limit("k:tpm", "end-user tokens per minute", 1000, 60.0, tokens=True)


def admitted_in_window(events: list[tuple[float, int]], end: float, period: float) -> int:
    return sum(cost for at, cost in events if end - period < at <= end)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 30, allow_nan=False), st.integers(1, 400)),
                min_size=1, max_size=120))
def test_never_more_than_the_limit_in_any_window(steps):
    counters = MemoryCounters()
    now = 1_000_000.0
    requests: list[tuple[float, int]] = []
    tokens: list[tuple[float, int]] = []
    for gap, cost in steps:
        now += gap
        if counters.acquire_now((RPM, TPM), cost, now).admitted:
            requests.append((now, 1))
            tokens.append((now, cost))
    for at, _ in requests:
        assert admitted_in_window(requests, at, RPM.period) <= RPM.limit
        assert admitted_in_window(tokens, at, TPM.period) <= TPM.limit


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 5, allow_nan=False), min_size=1, max_size=200))
def test_a_steady_client_gets_close_to_the_limit(gaps):
    counters = MemoryCounters()
    now, admitted = 0.0, []
    for gap in gaps:
        now += gap
        if counters.acquire_now((RPM,), 1, now).admitted:
            admitted.append(now)
    # at most one bucket (1 s) stricter than exact: a full minute after the first admission
    # of a full window, room is back
    assert admitted, "the first request always fits"
    span = now - admitted[0]
    assert len(admitted) >= min(len(gaps), RPM.limit * max(1, math.floor(span / 61.0)))


def test_denied_request_counts_nowhere():
    counters = MemoryCounters()
    small = Limit("ip:rpm", "client-IP requests per minute", 100, 60.0)
    for i in range(5):
        assert counters.acquire_now((small, RPM), 0, 10.0 + i).admitted
    denied = counters.acquire_now((small, RPM), 0, 20.0)
    assert not denied.admitted and denied.denied is RPM
    ok = counters.acquire_now((small,), 0, 20.0)
    assert ok.usage[0].remaining == 100 - 6  # the denied one was not counted in `small`


def test_retry_after_is_when_the_oldest_requests_leave_the_window():
    counters = MemoryCounters()
    for i in range(5):
        counters.acquire_now((RPM,), 0, 100.0 + i * 10)
    denied = counters.acquire_now((RPM,), 0, 145.0)
    assert not denied.admitted
    assert 15.0 <= denied.retry_after <= 17.0  # the request at t=100 leaves at ~161
    assert not counters.acquire_now((RPM,), 0, 145.0 + denied.retry_after - 0.01).admitted
    assert counters.acquire_now((RPM,), 0, 145.0 + denied.retry_after + 0.01).admitted


def test_a_request_larger_than_the_limit_can_never_fit():
    denied = MemoryCounters().acquire_now((TPM,), 5000, 0.0)
    assert not denied.admitted and denied.retry_after == math.inf


def test_settle_returns_unused_tokens():
    counters = MemoryCounters()
    first = counters.acquire_now((TPM,), 900, 10.0)
    assert first.usage[0].remaining == 100
    assert not counters.acquire_now((TPM,), 200, 11.0).admitted
    counters.settle_now(first.reservation, 150, 12.0)
    second = counters.acquire_now((TPM,), 200, 13.0)
    assert second.admitted and second.usage[0].remaining == 1000 - 150 - 200


def test_settle_can_charge_more_than_reserved():
    counters = MemoryCounters()
    first = counters.acquire_now((TPM,), 100, 10.0)
    counters.settle_now(first.reservation, 400, 11.0)
    assert counters.acquire_now((TPM,), 1, 12.0).usage[0].remaining == 1000 - 401


def test_settling_after_the_window_changes_nothing():
    counters = MemoryCounters()
    first = counters.acquire_now((TPM,), 900, 10.0)
    counters.settle_now(first.reservation, 0, 200.0)
    assert counters.acquire_now((TPM,), 1000, 200.0).admitted


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 10, allow_nan=False), st.integers(1, 300),
                          st.integers(0, 300)), min_size=1, max_size=80))
def test_settled_usage_never_exceeds_the_limit_when_actual_is_at_most_reserved(steps):
    counters = MemoryCounters()
    now, charged = 1000.0, []
    for gap, reserve, used in steps:
        now += gap
        admission = counters.acquire_now((TPM,), reserve, now)
        if admission.admitted:
            actual = min(used, reserve)
            counters.settle_now(admission.reservation, actual, now)
            charged.append((now, actual))
    for at, _ in charged:
        assert admitted_in_window(charged, at, TPM.period) <= TPM.limit


def test_reset_is_time_until_back_to_full():
    counters = MemoryCounters()
    usage = counters.acquire_now((RPM,), 0, 30.0).usage[0]
    assert usage.remaining == 4 and 60.0 <= usage.reset <= 62.0


def test_idle_counters_are_swept():
    counters = MemoryCounters()
    counters.acquire_now((RPM,), 0, 0.0)
    counters.sweep(1000.0)
    assert not counters._counters


def test_go_durations():
    assert [go_duration(s) for s in (0, 0.012, 1, 1.2, 60, 360, 3725)] == [
        "0s", "12ms", "1s", "2s", "1m0s", "6m0s", "1h2m5s"]
