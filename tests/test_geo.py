"""Geography: supported countries, trusted proxies, modes, allow-list and IP churn."""

from __future__ import annotations

import openai
import pytest

from goodstanding.call import Call, VirtualKey
from goodstanding.checks.geo import GeoCheck
from goodstanding.endusers.geo import allowed_countries, shared_lookup, supported_document
from goodstanding.settings import GeoSettings
from goodstanding.stores.counters_memory import MemoryCounters

MODEL = "gpt-4o-mini"
HELLO = [{"role": "user", "content": "hello there"}]
RUSSIAN_IP = "77.88.8.8"  # Yandex DNS: RU in the bundled database
US_IP = "8.8.8.8"
PROXIED = {"GOODSTANDING_TRUSTED_PROXIES": "127.0.0.0/8"}


def ask(gw, forwarded_for: str, user: str = "u1"):
    client = gw.client(default_headers={"X-Forwarded-For": forwarded_for})
    return client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier=user)


@pytest.mark.parametrize(("ip", "country"), [
    (RUSSIAN_IP, "RU"), (US_IP, "US"), ("2a02:6b8::1", "RU"), ("127.0.0.1", None),
    ("10.1.2.3", None), ("192.168.0.1", None), ("::1", None), ("not-an-ip", None),
])
def test_country_of_an_address(ip, country):
    assert shared_lookup().country(ip) == country


def test_supported_list_is_dated_data():
    document = supported_document()
    assert document["as_of"] and document["sources"]
    supported = allowed_countries("openai-supported")
    assert {"US", "GB", "DE", "JP", "UA"} <= supported
    assert not {"RU", "CN", "IR", "KP", "BY", "CU", "SY", "VE", "HK", "MO"} & supported


def test_a_russian_client_through_a_trusted_proxy_is_refused(start_gateway, sim):
    gw = start_gateway(**PROXIED)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        ask(gw, RUSSIAN_IP)
    assert caught.value.code == "unsupported_country"
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert sim.calls["/v1/chat/completions"] == 0
    row = gw.store_call("query_audit", decision="refused")[0]  # refusals are written at once
    assert row["country"] == "RU" and "unsupported_country:RU" in row["reasons"]
    assert row["client_ip"] == RUSSIAN_IP


def test_forwarded_for_from_an_untrusted_peer_is_ignored(gw, sim):
    ask(gw, RUSSIAN_IP)  # the peer (127.0.0.1) is not a trusted proxy: its header is ignored
    assert sim.calls["/v1/chat/completions"] == 1


def test_supported_country_passes(start_gateway, sim):
    ask(start_gateway(**PROXIED), US_IP)
    assert sim.calls["/v1/chat/completions"] == 1


def test_flag_mode_lets_the_request_through(start_gateway, sim):
    ask(start_gateway(GOODSTANDING_GEO__MODE="flag", **PROXIED), RUSSIAN_IP)
    assert sim.calls["/v1/chat/completions"] == 1


def test_off_mode_does_not_look(start_gateway, sim):
    ask(start_gateway(GOODSTANDING_GEO__MODE="off", **PROXIED), RUSSIAN_IP)
    assert sim.calls["/v1/chat/completions"] == 1


def test_allow_list_override(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_GEO__ALLOW="[openai-supported, RU]", **PROXIED)
    ask(gw, RUSSIAN_IP)
    only_ru = start_gateway(GOODSTANDING_GEO__ALLOW="RU,KZ", **PROXIED)
    with pytest.raises(openai.PermissionDeniedError):
        ask(only_ru, US_IP)


class FixedLookup:
    def __init__(self, countries: dict[str, str | None]) -> None:
        self.countries = countries

    def country(self, ip: str) -> str | None:
        return self.countries.get(ip)


def make_call(ip: str, end_user: str | None = "alice") -> Call:
    call = Call("req_1", "POST", "/v1/chat/completions", "chat.completions", {}, ip)
    call.key = VirtualKey("k1", "app", "app", "h", 0.0)
    call.end_user = end_user
    return call


async def test_refusal_records_the_country():
    check = GeoCheck(GeoSettings(), MemoryCounters(), FixedLookup({"1.1.1.1": "RU"}))
    call = make_call("1.1.1.1")
    verdict = await check.check(call)
    assert verdict.refused and call.country == "RU"
    assert verdict.reasons == ("unsupported_country:RU",)


async def test_one_end_user_from_several_countries_is_a_churn_signal():
    now = [1000.0]
    lookup = FixedLookup({"a": "US", "b": "DE", "c": "FR", "d": "JP"})
    check = GeoCheck(GeoSettings(churn_countries=3, churn_window="1h"), MemoryCounters(),
                     lookup, clock=lambda: now[0])
    reasons = []
    for ip in ("a", "b", "c"):
        reasons.append((await check.check(make_call(ip))).reasons)
        now[0] += 60
    assert reasons == [(), (), ("geo_churn",)]
    assert (await check.check(make_call("a", end_user="bob"))).reasons == ()
    now[0] += 7200  # the window has passed: one country again
    assert (await check.check(make_call("d"))).reasons == ()


async def test_private_addresses_have_no_country_and_pass():
    check = GeoCheck(GeoSettings(allow=("US",)), MemoryCounters())
    call = make_call("10.0.0.8")
    assert not (await check.check(call)).refused and call.country is None
