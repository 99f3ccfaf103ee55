"""Gateway limits through a real server and the official SDK (SPEC §2–§3)."""

from __future__ import annotations

import itertools
import re
import time
from typing import Any

import openai
import pytest

from goodstanding.limits.tiers import sign_claim

MODEL = "gpt-4o-mini"
HELLO = [{"role": "user", "content": "hello there"}]
GO_DURATION = re.compile(r"^(\d+h)?(\d+m)?(\d+(\.\d+)?(ms|s))$")
RATE_HEADERS = [f"x-ratelimit-{what}-{unit}" for what in ("limit", "remaining", "reset")
                for unit in ("requests", "tokens")]


def chat_bodies(sim: Any) -> list[dict[str, Any]]:
    return [r["body"] for r in sim.requests if r["path"] == "/v1/chat/completions"]


def test_a_burst_from_one_user_gets_sdk_visible_429s(gw, sim):
    client = gw.client()
    ok, refused = 0, []
    for _ in range(25):
        try:
            client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="u1")
            ok += 1
        except openai.RateLimitError as exc:
            refused.append(exc)
    assert ok == 20  # the default: 20 requests per minute per end user
    assert len(refused) == 5
    error = refused[0]
    assert error.code == "rate_limit_exceeded"
    assert "end-user requests per minute" in error.message and "hello" not in error.message
    headers = error.response.headers
    assert 1 <= int(headers["retry-after"]) <= 61
    assert headers["x-ratelimit-limit-requests"] == "20"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert GO_DURATION.match(headers["x-ratelimit-reset-requests"])
    assert sim.calls["/v1/chat/completions"] == 20


def test_another_user_is_not_held_back_by_the_first(gw, sim):
    client = gw.client()
    for _ in range(20):
        client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="u1")
    client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="u2")


def test_rate_limit_headers_on_successful_responses(gw, sim):
    raw = gw.client().chat.completions.with_raw_response.create(
        model=MODEL, messages=HELLO, safety_identifier="u1")
    for name in RATE_HEADERS:
        assert name in raw.headers, name
    assert raw.headers["x-ratelimit-remaining-requests"] == "19"
    assert raw.headers["x-ratelimit-limit-tokens"] == "40000"
    assert int(raw.headers["x-ratelimit-remaining-tokens"]) < 40000 - 4096
    assert GO_DURATION.match(raw.headers["x-ratelimit-reset-tokens"])


def test_ip_limit_applies_across_end_users(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_LIMITS__IP__RPM="3")
    client = gw.client()
    for user in ("a", "b", "c"):
        client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier=user)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="d")
    assert "client-IP requests per minute" in caught.value.message


def test_a_huge_prompt_is_refused_before_any_upstream_call(gw, sim):
    prompt = "hello " * 100_000
    started = time.perf_counter()
    with pytest.raises(openai.BadRequestError) as caught:
        gw.client().chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": prompt}], safety_identifier="u1")
    assert caught.value.code == "prompt_too_long"
    assert "16000" in caught.value.message and "hello" not in caught.value.message
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert sim.calls["/v1/chat/completions"] == 0 and sim.calls["/v1/moderations"] == 0
    assert time.perf_counter() - started < 5


def test_a_long_but_allowed_prompt_passes(gw, sim):
    prompt = "hello " * 8000  # 48 kB of JSON: over the free bound, under the exact limit
    gw.client().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": prompt}], safety_identifier="u1")
    assert sim.calls["/v1/chat/completions"] == 1


def test_max_tokens_is_clamped_to_the_cap(gw, sim):
    gw.client().chat.completions.create(
        model=MODEL, messages=HELLO, safety_identifier="u1", max_tokens=100_000)
    assert chat_bodies(sim)[-1]["max_tokens"] == 4096


def test_small_max_tokens_is_left_alone(gw, sim):
    gw.client().chat.completions.create(
        model=MODEL, messages=HELLO, safety_identifier="u1", max_completion_tokens=50)
    body = chat_bodies(sim)[-1]
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body


def test_absent_max_tokens_is_set_to_the_cap(gw, sim):
    gw.client().chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="u1")
    assert chat_bodies(sim)[-1]["max_completion_tokens"] == 4096


def test_responses_max_output_tokens_is_clamped(gw, sim):
    gw.client().responses.create(model=MODEL, input="hi", safety_identifier="u1",
                                 max_output_tokens=99_999)
    body = [r["body"] for r in sim.requests if r["path"] == "/v1/responses"][-1]
    assert body["max_output_tokens"] == 4096


def test_token_reservations_settle_to_actual_usage(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_LIMITS__END_USER__TPM="10000",
                       GOODSTANDING_LIMITS__MAX_OUTPUT_TOKENS="3000")
    client = gw.client()
    raws = [client.chat.completions.with_raw_response.create(
        model=MODEL, messages=HELLO, safety_identifier="u1") for _ in range(5)]
    remaining = [int(r.headers["x-ratelimit-remaining-tokens"]) for r in raws]
    used = raws[0].parse().usage.total_tokens
    # each response shows its own reservation (bound on the prompt + 3000 of output)…
    assert 10000 - 3000 - 200 < remaining[0] <= 10000 - 3000
    # …and the earlier ones count only what they used once settled
    assert [a - b for a, b in itertools.pairwise(remaining)] == [used] * 4


def test_concurrent_reservations_cannot_overshoot(start_gateway, sim):
    from concurrent.futures import ThreadPoolExecutor

    gw = start_gateway(GOODSTANDING_LIMITS__END_USER__TPM="10000",
                       GOODSTANDING_LIMITS__MAX_OUTPUT_TOKENS="3000")
    # streams of ~3 s overlap even on a slow machine (at 0.05 s a chunk, CI once saw all six
    # finish one after another, each settling its reservation before the next was made)
    sim.config.chunk_delay = 0.3
    client = gw.client()

    def one(_: int) -> str:
        try:
            stream = client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "go [[words:10]]"}],
                stream=True, safety_identifier="u1")
            list(stream)
            return "ok"
        except openai.RateLimitError as exc:
            assert "end-user tokens per minute" in exc.message
            return "429"

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(one, range(6)))
    assert outcomes.count("ok") == 3  # 3 × (prompt + 3000) fit in 10000, a 4th does not


def test_a_request_larger_than_the_token_limit_is_not_retried(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_LIMITS__END_USER__TPM="1000")
    with pytest.raises(openai.RateLimitError) as caught:
        gw.client().chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="u1")
    assert "Request too large" in caught.value.message
    assert caught.value.response.headers["x-should-retry"] == "false"


def test_key_rpm_limits_all_its_end_users(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_LIMITS__KEY__RPM="2")
    client = gw.client()
    client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="a")
    client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="b")
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="c")
    assert "API-key requests per minute" in caught.value.message


def test_a_signed_tier_claim_raises_the_end_users_limits(start_gateway, sim):
    secret = "tier-secret-for-tests"
    gw = start_gateway(GOODSTANDING_LIMITS__END_USER__RPM="2",
                       GOODSTANDING_LIMITS__TIER_SECRET=secret)
    claim = sign_claim(secret, "vip", "verified", int(time.time()) + 600)
    client = gw.client(default_headers={"X-Goodstanding-Tier": claim})
    for _ in range(6):  # verified: 3 × the anonymous limit
        client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="vip")
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="vip")
    assert all("x-goodstanding-tier" not in r["headers"] for r in sim.requests)


def test_a_forged_tier_claim_is_ignored(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_LIMITS__END_USER__RPM="2",
                       GOODSTANDING_LIMITS__TIER_SECRET="the-real-secret")
    claim = sign_claim("a-guessed-secret", "mallory", "kyc", int(time.time()) + 600)
    client = gw.client(default_headers={"X-Goodstanding-Tier": claim})
    for _ in range(2):
        client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="mallory")
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="mallory")
