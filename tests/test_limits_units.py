"""Token bounds and counts, output clamping, trust tiers and per-key limit policies."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from goodstanding.call import Call, VirtualKey
from goodstanding.checks.limits import clamp_output, rate_headers
from goodstanding.limits.policy import LimitPolicy, tier_limits
from goodstanding.limits.ratelimit import Limit, Usage
from goodstanding.limits.tiers import sign_claim, verify_claim
from goodstanding.limits.tokens import IMAGE_TOKENS, count_prompt, prompt_texts, upper_bound
from goodstanding.settings import EndUserLimits, LimitsSettings, TierLimits


def chat(*contents: object) -> dict:
    return {"model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": c} for c in contents]}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=300), min_size=1, max_size=4))
def test_the_free_bound_is_never_below_the_exact_count(texts):
    body = chat(*texts)
    assert upper_bound(orjson.dumps(body), body) >= count_prompt(body, body["model"])


def test_images_count_without_their_bytes():
    body = chat([{"type": "text", "text": "what is this?"},
                 {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 9000}}])
    texts, framing, images = prompt_texts(body)
    assert texts == ["what is this?"] and framing == 7 and images == 1
    assert IMAGE_TOKENS < count_prompt(body, None) < IMAGE_TOKENS + 20
    assert upper_bound(orjson.dumps(body), body) >= count_prompt(body, None)


def test_counting_stops_once_over_the_limit():
    body = chat("hello " * 200_000)
    assert 1000 < count_prompt(body, None, stop_above=1000) < 1000 + 20_000


def test_responses_input_and_instructions_are_counted():
    body = {"model": "gpt-4o", "instructions": "be brief",
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi there"}]}]}
    assert sorted(prompt_texts(body)[0]) == ["be brief", "hi there"]


def test_embedding_token_ids_count_one_each():
    body = {"model": "text-embedding-3-small", "input": [[1, 2, 3, 4], [5, 6]]}
    assert count_prompt(body, body["model"]) == 6 + 7


def make_call(endpoint: str, body: dict) -> Call:
    call = Call("r", "POST", "/v1/x", endpoint, {}, "127.0.0.1", body=body)
    return call


def test_clamp_sets_lowers_and_keeps():
    call = make_call("chat.completions", {"max_tokens": 10_000, "n": 2})
    assert clamp_output(call, 4096) == 8192 and call.body["max_tokens"] == 4096
    call = make_call("chat.completions", {"max_completion_tokens": 10})
    assert clamp_output(call, 4096) == 10 and call.body == {"max_completion_tokens": 10}
    call = make_call("responses", {})
    assert clamp_output(call, 4096) == 4096 and call.body["max_output_tokens"] == 4096
    call = make_call("embeddings", {"input": "x"})
    assert clamp_output(call, 4096) == 0 and "max_tokens" not in call.body


def test_tier_claims():
    claim = sign_claim("s3cret", "alice", "kyc", 2000)
    assert verify_claim(b"s3cret", claim, "alice", 1000) == "kyc"
    assert verify_claim(b"s3cret", claim, "bob", 1000) is None  # another end user
    assert verify_claim(b"s3cret", claim, "alice", 3000) is None  # expired
    assert verify_claim(b"other", claim, "alice", 1000) is None
    assert verify_claim(b"s3cret", claim.replace("kyc", "verified"), "alice", 1000) is None
    assert verify_claim(b"s3cret", "garbage", "alice", 1000) is None


def test_tiers_scale_the_end_user_limits_unless_set():
    base = EndUserLimits()
    assert tier_limits(TierLimits(), base, "anonymous") == base
    assert tier_limits(TierLimits(), base, "kyc").rpm == 200
    custom = TierLimits.model_validate({"rpm": 50, "tpm": None})
    resolved = tier_limits(custom, base, "verified")
    assert (resolved.rpm, resolved.tpm, resolved.rpd) == (50, None, 3000)


def test_a_keys_policy_overrides_only_what_it_names():
    key = VirtualKey("k", "team", "team", "h", 0.0, rpm=7,
                     policy={"limits": {"end_user": {"rpm": 100}, "max_output_tokens": 512}})
    policy = LimitPolicy.of(LimitsSettings(), key)
    labels = {t[1]: t[2] for t in policy.end_user["anonymous"]}
    assert labels["end-user requests per minute"] == 100
    assert labels["end-user tokens per minute"] == 40000  # untouched
    assert policy.max_output_tokens == 512 and policy.max_prompt_tokens == 16000
    assert [(t[1], t[2]) for t in policy.key] == [("API-key requests per minute", 7)]
    verified = {t[1]: t[2] for t in policy.end_user["verified"]}
    assert verified["end-user requests per minute"] == 300


def test_a_globally_set_limit_survives_a_key_policy():
    settings = LimitsSettings.model_validate({"end_user": {"tpm": 5000}})
    key = VirtualKey("k", "team", "team", "h", 0.0, policy={"limits": {"ip": {"rpm": 9}}})
    policy = LimitPolicy.of(settings, key)
    labels = {t[1]: t[2] for t in policy.end_user["anonymous"]}
    assert labels["end-user tokens per minute"] == 5000
    assert labels["end-user requests per minute"] == 20
    assert policy.ip[0][2] == 9


def test_headers_show_the_tightest_limit():
    rpm = Limit("eu:rpm:a", "x", 20, 60.0)
    ip = Limit("ip:rpm:a", "y", 60, 60.0)
    tpm = Limit("eu:tpm:a", "z", 1000, 60.0, tokens=True)
    headers = rate_headers((Usage(rpm, 5, 30.0), Usage(ip, 3, 59.5), Usage(tpm, 900, 0.25)))
    assert headers == {
        "x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "3",
        "x-ratelimit-reset-requests": "1m0s", "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "900", "x-ratelimit-reset-tokens": "250ms"}
