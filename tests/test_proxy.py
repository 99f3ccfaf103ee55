"""The OpenAI-compatible API through a real gateway server, with the official SDK."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import httpx2
import openai
import pytest

MODEL = "gpt-4o-mini"
HELLO = [{"role": "user", "content": "hello there"}]


def last_upstream(sim: Any, path: str) -> dict[str, Any]:
    return [r for r in sim.requests if r["path"] == path][-1]


def test_chat_completion_answers_with_the_sdk(gw, sim):
    answer = gw.client().chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="u1")
    assert answer.choices[0].message.content
    assert answer.usage.total_tokens > 0


def test_upstream_sees_only_the_hmac_safety_identifier(gw, sim):
    gw.client().chat.completions.create(model=MODEL, messages=HELLO, user="alice@example.com")
    body = last_upstream(sim, "/v1/chat/completions")["body"]
    secret = gw.settings.identity.secret.encode()
    expected = hmac.new(secret, b"test-app\nalice@example.com", hashlib.sha256).hexdigest()
    assert body["safety_identifier"] == expected and len(expected) <= 64
    assert "user" not in body
    assert body["prompt_cache_key"] == expected  # `user` also bucketed the cache


def test_upstream_key_is_used_and_virtual_key_never_forwarded(gw, sim):
    gw.client().chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="u1")
    headers = last_upstream(sim, "/v1/chat/completions")["headers"]
    assert gw.token not in str(headers)
    assert "x-end-user" not in headers


def test_end_user_from_header(gw, sim):
    client = gw.client(default_headers={"X-End-User": "carol"})
    client.chat.completions.create(model=MODEL, messages=HELLO)
    assert last_upstream(sim, "/v1/chat/completions")["body"]["safety_identifier"]


def test_missing_end_user_is_refused_without_retry(gw, sim):
    with pytest.raises(openai.BadRequestError) as caught:
        gw.client().chat.completions.create(model=MODEL, messages=HELLO)
    assert caught.value.code == "end_user_required"
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert caught.value.request_id
    assert sim.calls["/v1/chat/completions"] == 0


def test_chat_stream_arrives_incrementally(gw, sim):
    sim.config.chunk_delay = 0.05
    started = time.perf_counter()
    stream = gw.client().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "go [[words:30]]"}],
        stream=True, safety_identifier="u1")
    arrivals, texts = [], []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.perf_counter() - started)
            texts.append(chunk.choices[0].delta.content)
    assert len(texts) >= 30
    # the first words arrive long before the upstream has finished sending
    assert arrivals[0] < arrivals[-1] - 0.8


def test_stream_usage_chunk_is_stripped_unless_asked(gw, sim):
    client = gw.client()
    chunks = list(client.chat.completions.create(
        model=MODEL, messages=HELLO, stream=True, safety_identifier="u1"))
    assert all(c.usage is None for c in chunks)
    assert last_upstream(sim, "/v1/chat/completions")["body"]["stream_options"]["include_usage"]
    asked = list(client.chat.completions.create(
        model=MODEL, messages=HELLO, stream=True, safety_identifier="u1",
        stream_options={"include_usage": True}))
    assert asked[-1].usage is not None and asked[-1].usage.total_tokens > 0


def test_responses_api_streamed_and_not(gw, sim):
    client = gw.client()
    response = client.responses.create(model=MODEL, input="hi", safety_identifier="u1")
    assert response.output_text
    events = list(client.responses.create(model=MODEL, input="hi", stream=True,
                                          safety_identifier="u1"))
    assert events[-1].type == "response.completed"
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == events[-1].response.output_text


def test_embeddings_moderations_models(gw, sim):
    client = gw.client()
    assert client.embeddings.create(model="text-embedding-3-small", input="hi").data[0].embedding
    assert client.moderations.create(input="a kind sentence").results[0].flagged is False
    assert any(m.id == MODEL for m in client.models.list())
    assert "user" not in last_upstream(sim, "/v1/embeddings")["body"]


@pytest.mark.parametrize("api_key", ["", "sk-not-ours", "gsk-aaaaaaaaaaaa-" + "b" * 43])
def test_bad_virtual_keys_get_invalid_api_key(gw, sim, api_key):
    with pytest.raises(openai.AuthenticationError) as caught:
        gw.client(api_key=api_key or "x").chat.completions.create(
            model=MODEL, messages=HELLO, safety_identifier="u1")
    assert caught.value.code == "invalid_api_key"
    assert sim.calls["/v1/chat/completions"] == 0


def test_revoked_key_is_refused(gw, sim):
    gw.store_call("update_key", gw.key_id, revoked_at=time.time())
    time.sleep(2.1)  # the in-process key cache holds a verified key for 2 s
    with pytest.raises(openai.AuthenticationError):
        gw.client().chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="u")


def raw(gw, path: str, content: bytes | None = None, **kwargs: Any) -> httpx2.Response:
    headers = {"authorization": f"Bearer {gw.token}", "content-type": "application/json"}
    headers.update(kwargs.pop("headers", {}))
    return httpx2.post(f"{gw.url}{path}", content=content, headers=headers, **kwargs)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (b'{"model": "gpt-4o-mini"}', "messages"),
        (b'{"model": 7, "messages": []}', "model"),
        (b'{"model": "m", "messages": "hi"}', "messages"),
        (b'{"model": "m", "messages": [], "max_tokens": "lots"}', "max_tokens"),
        (b'{"model": "m", "messages": [], "stream": "yes"}', "stream"),
        (b'{"model": "m", "messages": [], "n": true}', "n"),
        (b'{"model": "m", "messages": [], "n": 0}', "n"),
        (b'{"model": "m", "messages": [], "n": 100000, "max_tokens": 100}', "n"),
    ],
)
def test_malformed_requests_get_invalid_request(gw, sim, body, param):
    response = raw(gw, "/v1/chat/completions", body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["param"] == param
    assert set(error) == {"message", "type", "param", "code"}
    assert response.headers["x-request-id"].startswith("req_")


def test_oversize_body_gets_413(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_SERVER__MAX_BODY_BYTES="2048")
    response = raw(gw, "/v1/chat/completions", b'{"x": "' + b"a" * 4096 + b'"}')
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_bulk_endpoints_are_not_allowed(gw, sim):
    response = raw(gw, "/v1/batches", b"{}")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "endpoint_not_allowed"


def test_unknown_route_is_404_with_envelope(gw):
    response = httpx2.get(f"{gw.url}/nowhere")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert response.headers["x-request-id"]


def test_unknown_model_when_models_are_listed(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_UPSTREAM__MODELS="[gpt-4o-mini]")
    with pytest.raises(openai.NotFoundError) as caught:
        gw.client().chat.completions.create(model="gpt-9", messages=HELLO, safety_identifier="u")
    assert caught.value.code == "model_not_found"


def test_dead_upstream_is_502(start_gateway, sim):
    # input moderation would fail closed first (503): this test is about the chat call
    gw = start_gateway(GOODSTANDING_UPSTREAM_URL="http://127.0.0.1:9/v1",
                       GOODSTANDING_MODERATION__INPUT="off")
    with pytest.raises(openai.InternalServerError) as caught:
        gw.client().chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="u")
    assert caught.value.status_code == 502
    assert caught.value.code == "upstream_unavailable"
    assert "sk-test" not in caught.value.response.text


def test_upstream_errors_pass_through_with_rate_limit_headers(gw, sim):
    with pytest.raises(openai.RateLimitError) as caught:
        gw.client().chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "[[fault:429]]"}],
            safety_identifier="u1")
    headers = caught.value.response.headers
    assert caught.value.code == "rate_limit_exceeded"
    assert "x-ratelimit-remaining-requests" in headers and headers["retry-after"]
    with pytest.raises(openai.BadRequestError) as policy:  # another model: MODEL is held
        gw.client().chat.completions.create(  # back after its 429 (abuse/upstream_limits.py)
            model="gpt-4o", messages=[{"role": "user", "content": "[[fault:invalid_prompt]]"}],
            safety_identifier="u1")
    assert policy.value.code == "invalid_prompt"


def test_health_and_readiness(gw):
    assert httpx2.get(f"{gw.url}/healthz").json() == {"status": "ok"}
    ready = httpx2.get(f"{gw.url}/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_trusted_proxy_header_only_from_trusted_peers(start_gateway, sim):
    untrusted = start_gateway()
    untrusted.client(default_headers={"X-Forwarded-For": "203.0.113.9"}).chat.completions.create(
        model=MODEL, messages=HELLO, safety_identifier="u1")
    trusted = start_gateway(GOODSTANDING_TRUSTED_PROXIES="127.0.0.0/8")
    trusted.client(default_headers={"X-Forwarded-For": "203.0.113.9"}).chat.completions.create(
        model=MODEL, messages=HELLO, safety_identifier="u2")
    time.sleep(0.3)
    ips = {r["end_user"]: r["client_ip"] for r in trusted.store_call("query_audit")}
    assert ips == {"u1": "127.0.0.1", "u2": "203.0.113.9"}


def test_metrics_count_calls(gw, sim):
    gw.client().chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="u1")
    text = httpx2.get(f"{gw.url}/metrics").text
    assert ('goodstanding_requests_total{endpoint="chat.completions",decision="allowed",'
            'status="200"}') in text


def leave_after_three_chunks(gw: Any, sim: Any) -> Any:
    """A long stream the client closes after its fourth chunk."""
    sim.config.chunk_delay = 0.05
    stream = gw.client().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "go [[words:200]]"}],
        stream=True, safety_identifier="u1")
    for number, _ in enumerate(stream):
        if number == 3:
            break
    stream.close()
    return stream


def test_client_leaving_mid_stream_cancels_the_upstream_request(gw, sim):
    leave_after_three_chunks(gw, sim)
    deadline = time.time() + 3
    while not sim.streams["abandoned"] and time.time() < deadline:
        time.sleep(0.02)
    assert sim.streams["abandoned"] == 1 and sim.streams["completed"] == 0


def record_of(gw: Any, request_id: str) -> dict[str, Any]:
    deadline = time.time() + 5
    while True:  # answered calls are written in batches
        found = gw.store_call("query_audit", request_id=request_id)
        if found or time.time() > deadline:
            return found[0]
        time.sleep(0.05)


def test_a_client_leaving_mid_stream_is_recorded_as_gone(gw, sim):
    stream = leave_after_three_chunks(gw, sim)
    record = record_of(gw, stream.response.headers["x-request-id"])
    # the status the client was sent, and why its answer is incomplete
    assert (record["status"], record["decision"]) == (200, "allowed")
    assert record["reasons"] == ["client_disconnected"] and record["tokens_out"] is None


def test_a_completed_stream_is_not_recorded_as_gone(gw, sim):
    stream = gw.client().chat.completions.create(
        model=MODEL, messages=HELLO, stream=True, safety_identifier="u1")
    assert list(stream)
    assert record_of(gw, stream.response.headers["x-request-id"])["reasons"] == []


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_a_stream_the_upstream_ends_without_its_final_event_is_recorded_so(gw, sim, api):
    """The client gets what came (a compatible provider that omits [DONE] must keep working);
    the record says the answer is not whole instead of passing for a completed call."""
    truncated = [{"role": "user", "content": "go [[words:50]] [[fault:truncate]]"}]
    client = gw.client()
    if api == "chat":
        stream = client.chat.completions.create(model=MODEL, messages=truncated, stream=True,
                                                safety_identifier="u1")
    else:
        stream = client.responses.create(model=MODEL, input=truncated, stream=True,
                                         safety_identifier="u1")
    assert list(stream)  # the chunks that came, and no error
    record = record_of(gw, stream.response.headers["x-request-id"])
    assert (record["status"], record["decision"]) == (200, "allowed")
    assert record["reasons"] == ["stream_unterminated"]


DISCONNECT = "story [[fault:disconnect]] [[words:200]]"


def test_a_chat_stream_the_upstream_breaks_is_recorded_as_the_502_the_client_saw(gw, sim):
    from goodstanding.incidents.classify import classify

    stream = gw.client().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": DISCONNECT}], stream=True,
        safety_identifier="u1")
    with pytest.raises(openai.APIError) as caught:
        list(stream)
    assert caught.value.code == "upstream_unavailable"
    record = record_of(gw, stream.response.headers["x-request-id"])
    assert (record["status"], record["decision"]) == (502, "upstream_error")
    assert record["reasons"] == ["upstream_unavailable"]
    assert classify(record) == ("upstream_unavailable", "")  # an incident, as a failed call is


def test_a_responses_stream_the_upstream_breaks_is_recorded_as_the_502_the_client_saw(gw, sim):
    stream = gw.client().responses.create(model=MODEL, input=DISCONNECT, stream=True,
                                          safety_identifier="u1")
    events = list(stream)
    assert (events[-1].type, events[-1].code) == ("error", "upstream_unavailable")
    record = record_of(gw, stream.response.headers["x-request-id"])
    assert (record["status"], record["decision"]) == (502, "upstream_error")
    assert record["reasons"] == ["upstream_unavailable"]


def test_a_broken_stream_keeps_the_reasons_it_had_and_adds_its_own(gw, sim):
    """Reasons noted before the break (an unread file) do not hide it from the incidents."""
    stream = gw.client().chat.completions.create(model=MODEL, stream=True, safety_identifier="u1",
                                                 messages=[{"role": "user", "content": [
        {"type": "text", "text": DISCONNECT},
        {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBE"}}]}])  # fmt: skip
    with pytest.raises(openai.APIError):
        list(stream)
    record = record_of(gw, stream.response.headers["x-request-id"])
    assert record["reasons"] == ["unmoderated_input", "upstream_unavailable"]
    assert record["status"] == 502
