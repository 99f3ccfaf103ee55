"""Leaked or shared virtual keys (issue 14): one key connecting from many countries/networks.

Through a real gateway behind a trusted proxy (the connecting address is X-Forwarded-For's):
a key used from 5 countries in a minute is flagged, and suspended when so configured; a
backend key reporting its end users' addresses in X-End-User-IP never is.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest

from goodstanding.abuse.fanout import SLOTS, KeyFanout, linear_count, network_of
from goodstanding.call import Call
from goodstanding.ops.signals import signals_of
from goodstanding.settings import KeyFanoutSettings
from goodstanding.stores.counters_memory import MemoryCounters

MODEL = "gpt-4o-mini"
CHAT = "/v1/chat/completions"
PROXIED = {"GOODSTANDING_TRUSTED_PROXIES": "127.0.0.0/8"}
# one address in each of five supported countries (the bundled database)
COUNTRIES = {"US": "8.8.8.8", "GB": "81.2.69.142", "JP": "133.242.0.3", "BR": "200.160.0.8",
             "DE": "85.214.132.117"}


def ask(gw: Any, user: str = "alice", **headers: str) -> Any:
    return gw.client(default_headers=headers).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hello"}], safety_identifier=user)


def reasons_of(gw: Any) -> list[str]:
    import time

    time.sleep(0.3)  # answers' records are flushed in the background
    return [r for row in gw.store_call("query_audit") for r in row["reasons"]]


def test_a_key_used_from_five_countries_in_a_minute_is_flagged(start_gateway, sim):
    gw = start_gateway(**PROXIED)
    for address in COUNTRIES.values():
        ask(gw, **{"X-Forwarded-For": address})
    assert sim.calls[CHAT] == 5  # recorded, not refused: the default action is "record"
    found = [r for r in reasons_of(gw) if r.startswith("key_fanout:")]
    assert sorted(found) == ["key_fanout:countries:4", "key_fanout:countries:5"]


def test_when_configured_the_key_is_suspended(start_gateway, sim):
    gw = start_gateway(**PROXIED, GOODSTANDING_SIGNALS__KEY_FANOUT__ACTION="suspend")
    addresses = list(COUNTRIES.values())
    for address in addresses[:3]:
        ask(gw, **{"X-Forwarded-For": address})
    with pytest.raises(openai.AuthenticationError) as caught:
        ask(gw, **{"X-Forwarded-For": addresses[3]})
    assert caught.value.code == "invalid_api_key"
    assert "suspended" in caught.value.message
    with pytest.raises(openai.AuthenticationError):  # from its usual address too: revoked
        ask(gw, **{"X-Forwarded-For": addresses[0]})
    assert sim.calls[CHAT] == 3
    key = gw.store_call("get_key", gw.key_id)
    assert key.revoked_at is not None


def test_a_backend_reporting_its_end_users_addresses_is_not_a_leak(start_gateway, sim):
    gw = start_gateway(**PROXIED, GOODSTANDING_SIGNALS__KEY_FANOUT__ACTION="suspend")
    for n, address in enumerate(COUNTRIES.values()):
        # one backend server (the peer) serving end users in five countries
        ask(gw, f"user-{n}", **{"X-Forwarded-For": "8.8.4.4", "X-End-User-IP": address})
    assert sim.calls[CHAT] == 5
    assert not [r for r in reasons_of(gw) if r.startswith("key_fanout")]


async def test_many_networks_are_counted_in_bounded_memory():
    counters = MemoryCounters()
    fanout = KeyFanout(KeyFanoutSettings(networks=32), counters, clock=lambda: 1000.0)
    found = [await fanout.observe("k1", f"10.{i // 256}.{i % 256}.7") for i in range(40)]
    assert not any(found[:30])
    assert found[-1] and found[-1][0].startswith("key_fanout:networks:")
    for i in range(5000):  # a key used from everywhere: still at most SLOTS members
        await fanout.observe("k1", f"11.{i // 256}.{i % 256}.1")
    assert len(counters._seen["fanout:n:k1"]) <= SLOTS
    # the same network again within the window costs no store call and says nothing new
    assert await fanout.observe("k1", "10.0.0.7") == ()
    call = Call("r", "POST", CHAT, "chat.completions", {}, "1.2.3.4")
    call.reasons.extend(found[-1])
    assert "key_fanout" in signals_of(call)


def test_network_and_linear_counting():
    assert network_of("203.0.113.77") == "203.0.113.0"
    assert network_of("2001:db8:1:2::5") == "2001:db8:1::"
    assert network_of("not-an-ip") is None
    assert linear_count(0) == 0
    assert linear_count(32) in (32, 33)
    assert linear_count(SLOTS) > SLOTS
