"""What reaches the client of the upstream's refusals and broken answers (``upstream.py``).

The upstream's 401/403 are about the gateway's own key, never the client's; an error body is
relayed without any OpenAI key in it; a 200 that is not JSON is no answer; a relayed wait is a
sane one. Through a real gateway and the simulated upstream, with the official SDK.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from goodstanding.upstream import redact_keys
from tests.test_ops_alerts import listed, wait_for

MODEL = "gpt-4o-mini"
HELLO = [{"role": "user", "content": "hello there"}]
WRONG_KEY = "sk-proj-refused0123456789abcdefWXYZ"


def records(gw: Any, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = [r for r in gw.store_call("query_audit") if r["request_id"] == request_id]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no record of {request_id}")


# --- the upstream refuses the gateway's own key -----------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_a_refused_upstream_key_is_the_gateways_502_not_the_clients_401(
        start_gateway, sim, caplog, stream):
    # the simulated upstream knows another key: it answers 401 naming this one, masked
    gw = start_gateway(OPENAI_API_KEY=WRONG_KEY, GOODSTANDING_MODERATION__INPUT="off",
                       GOODSTANDING_MODERATION__OUTPUT="off")
    caplog.set_level(logging.INFO)
    with pytest.raises(openai.InternalServerError) as caught:
        gw.client().chat.completions.create(model=MODEL, messages=HELLO,
                                            safety_identifier="u1", stream=stream)
    error = caught.value
    assert sim.calls["/v1/chat/completions"] == 1  # it was the upstream that refused
    assert error.status_code == 502 and error.code == "upstream_unavailable"
    assert "not a problem with your key" in error.message
    assert "sk-" not in error.response.text and WRONG_KEY[-4:] not in error.response.text
    assert error.response.headers["x-should-retry"] == "false"
    record = records(gw, error.response.headers["x-request-id"])
    assert record["status"] == 502 and record["decision"] == "failed"
    assert {"upstream_credentials_refused", "upstream:invalid_api_key"} <= set(record["reasons"])
    # the operator hears of it; nobody sees the key, not even the log
    wait_for(lambda: [a for a in listed(gw) if a["when"] == "upstream_credentials_refused"])
    assert "refused" in caplog.text and WRONG_KEY[3:12] not in caplog.text


def test_a_refused_key_on_moderation_raises_the_same_alert(start_gateway, sim, caplog):
    """Moderation is the first upstream call: a refused key there was only "moderation
    unavailable", and the operator was not told the key was the cause."""
    gw = start_gateway(OPENAI_API_KEY=WRONG_KEY)
    caplog.set_level(logging.INFO)
    with pytest.raises(openai.APIStatusError) as caught:
        gw.client().chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="u1")
    error = caught.value
    assert error.status_code == 503 and error.code == "moderation_unavailable"
    assert "sk-" not in error.response.text
    assert sim.calls.get("/v1/chat/completions", 0) == 0  # not sent unmoderated
    record = records(gw, error.response.headers["x-request-id"])
    assert {"moderation_unavailable", "upstream_credentials_refused"} <= set(record["reasons"])
    wait_for(lambda: [a for a in listed(gw) if a["when"] == "upstream_credentials_refused"])
    assert WRONG_KEY[3:12] not in caplog.text


# --- an answer that is not JSON ---------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_an_html_page_answered_with_200_is_a_recorded_502(gw, sim, stream):
    with pytest.raises(openai.InternalServerError) as caught:
        gw.client().chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "[[fault:html]] hi"}],
            safety_identifier="u1", stream=stream)
    error = caught.value
    assert error.status_code == 502 and error.code == "upstream_unavailable"
    assert "<html>" not in error.response.text
    record = records(gw, error.response.headers["x-request-id"])
    assert record["status"] == 502 and "upstream_not_json" in record["reasons"]


def test_an_html_page_answered_to_responses_is_a_502(gw, sim):
    with pytest.raises(openai.InternalServerError) as caught:
        gw.client().responses.create(model=MODEL, input="[[fault:html]] hi",
                                     safety_identifier="u1")
    assert caught.value.code == "upstream_unavailable"


# --- relayed waits ----------------------------------------------------------------------------


def test_a_relayed_retry_after_is_a_whole_bounded_number_of_seconds(start_gateway, sim):
    # no holding back after a 429: each call below must reach the upstream
    gw = start_gateway(GOODSTANDING_SIGNALS__UPSTREAM__ENABLED="false")
    relayed = {}
    for sent in ("-5", "2.5", "99999999", "nan", "soon", "7"):
        with pytest.raises(openai.RateLimitError) as caught:
            gw.client().chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": f"[[fault:retry-after:{sent}]]"}],
                safety_identifier="u1")
        relayed[sent] = caught.value.response.headers.get("retry-after")
    assert relayed == {"-5": None, "2.5": "3", "99999999": "3600", "nan": None, "soon": None,
                       "7": "7"}


# --- redaction of relayed error bodies --------------------------------------------------------


@pytest.mark.parametrize("key", [
    "sk-sim-pr**************************0000",
    "sk-proj-ab********************************wxyz",
    "sk-abc123def456",
    "sk-proj-ab\u2026wxyz",
])  # fmt: skip
def test_a_key_in_an_error_message_is_redacted(key: str) -> None:
    message = f"Incorrect API key provided: {key}. You can find your API key at https://x."
    for body in (json.dumps({"error": {"message": message}}).encode(),
                 json.dumps({"error": {"message": message}}, ensure_ascii=False).encode()):
        redacted = redact_keys(body)
        assert b"sk-" not in redacted and key[-4:].encode() not in redacted
        assert json.loads(redacted)["error"]["message"].startswith(
            "Incorrect API key provided: [redacted key]. You can")


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-*",
               min_size=1), st.text().filter(lambda t: "sk-" not in t))
def test_any_key_shaped_text_is_redacted_and_the_body_stays_json(secret: str, around: str) -> None:
    body = json.dumps({"error": {"message": f"{around} sk-{secret} {around}"}}).encode()
    redacted = redact_keys(body)
    assert b" sk-" not in redacted
    assert isinstance(json.loads(redacted), dict)


def test_words_that_only_contain_sk_are_kept() -> None:
    body = b'{"error": {"message": "ask-me task-force gsk-abc"}}'
    assert redact_keys(body) == body
