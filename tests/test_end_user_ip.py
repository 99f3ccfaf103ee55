"""The end user's IP when an application's backend calls the gateway (issue 10).

One backend serves many end users from one address: with ``X-End-User-IP`` (or
``end_user_ip`` in the body) the per-IP limit, geography and IP churn apply to each end
user's address, and the backend's own address is limited only for calls that name none.
"""

from __future__ import annotations

import json
import time

import openai
import pytest

from goodstanding.cli import main
from goodstanding.endusers.identity import InvalidEndUser, end_user_ip_of

MODEL = "gpt-4o-mini"
HELLO = [{"role": "user", "content": "hello there"}]
RUSSIAN_IP, US_IP, GERMAN_IP, JAPANESE_IP = "77.88.8.8", "8.8.8.8", "5.9.0.1", "133.242.0.1"
MANY_USERS = {"GOODSTANDING_LIMITS__END_USER__RPM": "1000"}  # only the per-IP limit binds


def chat(client: openai.OpenAI, ip: str | None = None, user: str = "u1", **body):
    headers = {"X-End-User-IP": ip} if ip is not None else {}
    return client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier=user,
                                          extra_headers=headers, extra_body=body or None)


@pytest.mark.parametrize(("body", "headers", "expected"), [
    ({}, {}, None),
    ({}, {"x-end-user-ip": " 203.0.113.7 "}, "203.0.113.7"),
    ({"end_user_ip": "2001:DB8::1"}, {}, "2001:db8::1"),
    ({"end_user_ip": "::ffff:77.88.8.8"}, {}, "77.88.8.8"),
    ({"end_user_ip": "198.51.100.2"}, {"x-end-user-ip": "203.0.113.7"}, "198.51.100.2"),
    ({"end_user_ip": None}, {"x-end-user-ip": "203.0.113.7"}, "203.0.113.7"),
])
def test_the_end_users_ip_is_read_and_normalised(body, headers, expected):
    assert end_user_ip_of(body, headers) == expected


@pytest.mark.parametrize(("body", "headers", "param"), [
    ({}, {"x-end-user-ip": "not-an-ip"}, "X-End-User-IP"),
    ({}, {"x-end-user-ip": "300.1.1.1"}, "X-End-User-IP"),
    ({}, {"x-end-user-ip": "1.2.3.4, 5.6.7.8"}, "X-End-User-IP"),
    ({"end_user_ip": 17}, {}, "end_user_ip"),
    ({"end_user_ip": "10.0.0.0/8"}, {}, "end_user_ip"),
    ({"end_user_ip": "1" * 100}, {}, "end_user_ip"),
])
def test_garbage_is_not_an_ip(body, headers, param):
    with pytest.raises(InvalidEndUser) as caught:
        end_user_ip_of(body, headers)
    assert caught.value.param == param


def test_a_backend_serving_many_end_users_is_not_capped_by_the_per_ip_limit(start_gateway, sim):
    gw = start_gateway(**MANY_USERS)
    client = gw.client()
    for i in range(100):  # 100 end users behind one backend, each under the 60/min per IP
        chat(client, f"10.0.{i // 250}.{i % 250 + 1}", user=f"user-{i}")
    for _ in range(60):  # one end user's address has its own 60/min
        chat(client, "10.9.9.9")
    with pytest.raises(openai.RateLimitError) as caught:
        chat(client, "10.9.9.9")
    assert "client-IP requests per minute" in caught.value.message
    for _ in range(60):  # the backend's own address is counted only for calls naming none
        chat(client)
    with pytest.raises(openai.RateLimitError):
        chat(client)
    chat(client, "10.0.0.1")  # the other end users are still served
    assert sim.calls["/v1/chat/completions"] == 221


def test_geography_uses_the_end_users_ip(gw, sim):
    client = gw.client()
    with pytest.raises(openai.PermissionDeniedError) as caught:
        chat(client, RUSSIAN_IP)
    assert caught.value.code == "unsupported_country"
    [row] = gw.store_call("query_audit", decision="refused")
    assert (row["client_ip"], row["country"]) == (RUSSIAN_IP, "RU")
    with pytest.raises(openai.PermissionDeniedError):
        chat(client, end_user_ip="::ffff:" + RUSSIAN_IP)
    chat(client, end_user_ip=US_IP)
    chat(client, US_IP)
    assert sim.calls["/v1/chat/completions"] == 2
    # ours, not OpenAI's: neither the body field nor the header goes upstream
    for request in sim.requests:
        assert "end_user_ip" not in request["body"]
        assert "x-end-user-ip" not in request["headers"]


def test_ip_churn_is_seen_across_the_end_users_addresses(gw, sim):
    client = gw.client()
    for ip in (US_IP, GERMAN_IP, JAPANESE_IP):
        chat(client, ip, user="hopper")
    time.sleep(0.3)
    rows = {r["country"]: r["reasons"] for r in gw.store_call("query_audit")}
    assert rows == {"US": [], "DE": [], "JP": ["geo_churn"]}


@pytest.mark.parametrize(("body", "headers", "param"), [
    ({}, {"X-End-User-IP": "not-an-ip"}, "X-End-User-IP"),
    ({"end_user_ip": "999.0.0.1"}, {}, "end_user_ip"),
    ({"end_user_ip": ["8.8.8.8"]}, {}, "end_user_ip"),
])
def test_an_invalid_end_user_ip_is_a_400(gw, sim, body, headers, param):
    with pytest.raises(openai.BadRequestError) as caught:
        gw.client().chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="u1",
                                            extra_headers=headers, extra_body=body)
    assert (caught.value.code, caught.value.param) == ("invalid_request", param)
    assert sim.calls["/v1/chat/completions"] == 0


def test_a_key_that_may_not_name_the_ip_has_it_ignored(gw, sim, monkeypatch, capsys):
    monkeypatch.setenv("GOODSTANDING_DATABASE_URL", gw.db_url)
    assert main(["keys", "create", "browser-app", "--no-end-user-ip", "--json"]) == 0
    token = json.loads(capsys.readouterr().out)["key"]
    assert main(["keys", "list", "--json"]) == 0
    listed = {k["name"]: k["end_user_ip"] for k in json.loads(capsys.readouterr().out)}
    assert listed == {"test-app": True, "browser-app": False}
    client = gw.client(api_key=token)
    # a browser cannot dodge geography or its IP limit by naming another address
    chat(client, RUSSIAN_IP, end_user_ip=RUSSIAN_IP)
    chat(client, "not even an address")
    time.sleep(0.3)
    rows = gw.store_call("query_audit")
    assert [(r["client_ip"], r["reasons"]) for r in rows] == \
        [("127.0.0.1", ["end_user_ip_ignored"])] * 2
    assert "end_user_ip" not in sim.requests[0]["body"]
