"""The simulated upstream, driven over real HTTP by the official `openai` SDK."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

import openai
import orjson
import pytest

from goodstanding.runner import serve_in_thread
from goodstanding.simulate import create_app, scoring
from goodstanding.simulate.directives import PREFIX
from goodstanding.simulate.ratelimit import go_duration
from goodstanding.simulate.scoring import CATEGORIES

MODEL = "gpt-4o-mini"


@pytest.fixture
def client(sim: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=sim.url + "/v1", api_key=sim.api_key, max_retries=0)


def chat(client: openai.OpenAI, text: str, **kwargs: Any) -> Any:
    return client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": text}], **kwargs
    )


def http(sim: Any, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    headers = {"authorization": f"Bearer {sim.api_key}", "content-type": "application/json"}
    req = urllib.request.Request(sim.url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, orjson.loads(resp.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, orjson.loads(e.read())


# --- chat completions ---------------------------------------------------------------------


def test_chat_answer_is_labelled_and_counted(client: openai.OpenAI, sim: Any) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "hello"}]
    )
    answer = raw.parse()
    assert raw.headers["x-goodstanding-simulated"] == "true"
    assert raw.headers["x-request-id"].startswith("req_")
    assert answer.system_fingerprint == "goodstanding-simulated"
    assert answer.choices[0].message.content.startswith(PREFIX)
    assert len(answer.choices[0].message.content.split()) == len(PREFIX.split()) + 12
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage.prompt_tokens == 2  # (len("hello") + 3) // 4
    assert sim.calls["/v1/chat/completions"] == 1
    assert sim.requests[-1]["body"]["messages"][0]["content"] == "hello"


def test_chat_stream_is_one_word_per_chunk_then_usage(client: openai.OpenAI) -> None:
    whole = chat(client, "hi [[words:4]]").choices[0].message.content
    chunks = list(
        chat(client, "hi [[words:4]]", stream=True, stream_options={"include_usage": True})
    )
    content = [c.choices[0].delta.content for c in chunks if c.choices]
    assert "".join(c or "" for c in content) == whole
    assert len([c for c in content if c]) == len(whole.split())
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0


def test_say_directive_sets_the_exact_answer(client: openai.OpenAI) -> None:
    assert chat(client, "please [[say:Exactly  this.]]").choices[0].message.content == (
        "Exactly  this."
    )
    pieces = [c.choices[0].delta.content or "" for c in chat(client, "[[say:a b  c]]", stream=True)]
    assert "".join(pieces) == "a b  c"


def test_answer_never_exceeds_max_tokens_words(client: openai.OpenAI) -> None:
    answer = chat(client, "[[words:50]]", max_tokens=7).choices[0]
    assert len(answer.message.content.split()) == 7
    assert answer.finish_reason == "length"


def test_normal_answers_carry_openai_rate_limit_headers(client: openai.OpenAI) -> None:
    create = client.chat.completions.with_raw_response.create
    first = create(model=MODEL, messages=[{"role": "user", "content": "one"}])
    second = create(model=MODEL, messages=[{"role": "user", "content": "two"}])
    for name in ("limit", "remaining", "reset"):
        for kind in ("requests", "tokens"):
            assert f"x-ratelimit-{name}-{kind}" in second.headers
    remaining = [int(r.headers["x-ratelimit-remaining-requests"]) for r in (first, second)]
    assert remaining[1] == remaining[0] - 1
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.012, "12ms"), (1, "1s"), (59.6, "1m0s"), (360, "6m0s")]
)
def test_go_durations(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


# --- faults -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error", "code"),
    [
        ("429", openai.RateLimitError, "rate_limit_exceeded"),
        ("500", openai.InternalServerError, "server_error"),
        ("503", openai.InternalServerError, "service_unavailable"),
        ("invalid_prompt", openai.BadRequestError, "invalid_prompt"),
        ("cyber_policy", openai.BadRequestError, "cyber_policy"),
        ("bio_policy", openai.BadRequestError, "bio_policy"),
    ],
)
@pytest.mark.parametrize("api", ["chat", "responses"])
def test_error_faults_raise_the_sdk_exception(
    client: openai.OpenAI, api: str, fault: str, error: type[Exception], code: str
) -> None:
    text = f"do it [[fault:{fault}]]"
    with pytest.raises(error) as raised:
        if api == "chat":
            chat(client, text)
        else:
            client.responses.create(model=MODEL, input=text)
    assert raised.value.code == code


def test_429_fault_says_when_to_retry(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as raised:
        chat(client, "[[fault:429]]")
    headers = raised.value.response.headers
    assert headers["retry-after"] == "1"
    assert headers["x-ratelimit-remaining-requests"] == "0"


def test_slow_fault_delays_the_answer(client: openai.OpenAI) -> None:
    started = time.monotonic()
    chat(client, "[[fault:slow:300]]")
    assert time.monotonic() - started >= 0.3


def test_content_filter_fault(client: openai.OpenAI) -> None:
    choice = chat(client, "[[fault:content_filter]]").choices[0]
    assert choice.finish_reason == "content_filter" and not choice.message.content
    streamed = list(chat(client, "[[fault:content_filter]]", stream=True))
    assert streamed[-1].choices[0].finish_reason == "content_filter"
    response = client.responses.create(model=MODEL, input="[[fault:content_filter]]")
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "content_filter"
    assert response.output_text == ""


def test_refusal_fault(client: openai.OpenAI) -> None:
    message = chat(client, "[[fault:refusal]]").choices[0].message
    assert message.content is None and message.refusal
    streamed = chat(client, "[[fault:refusal]]", stream=True)
    assert "".join(c.choices[0].delta.refusal or "" for c in streamed) == message.refusal


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_disconnect_fault_cuts_the_stream(client: openai.OpenAI, api: str) -> None:
    text = "[[fault:disconnect]] [[words:40]]"
    received: list[Any] = []
    with pytest.raises(openai.APIConnectionError):
        if api == "chat":
            stream = chat(client, text, stream=True)
        else:
            stream = client.responses.create(model=MODEL, input=text, stream=True)
        received.extend(stream)
    assert 0 < len(received) < 10


def test_stream_arrives_incrementally(client: openai.OpenAI) -> None:
    started = time.monotonic()
    arrivals = [time.monotonic() - started for _ in chat(client, "[[words:4]] [[delay_ms:80]]",
                                                           stream=True)]  # fmt: skip
    # 4 filler words + 5 prefix words + role and finish chunks, 80 ms apart: about 0.8 s from
    # the first to the last (two chunks read together shorten it by one gap on a busy machine)
    assert arrivals[-1] - arrivals[0] >= 0.6
    assert arrivals[1] < arrivals[-1] / 2


# --- responses ----------------------------------------------------------------------------


def test_responses_answer(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model=MODEL, instructions="be brief", input=[{"role": "user", "content": "[[say:Hi!]]"}]
    )
    assert response.output_text == "Hi!"
    assert response.status == "completed"
    usage = response.usage
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens == 0
    assert usage.output_tokens_details.reasoning_tokens == 0


def test_responses_stream_events_in_openai_order(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model=MODEL, input="[[words:2]]", stream=True))
    kinds = [e.type for e in events]
    deltas = kinds.count("response.output_text.delta")
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * deltas,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert deltas == len(PREFIX.split()) + 2
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert events[-1].response.output_text == text
    assert events[-1].response.usage.output_tokens > 0


def test_responses_truncated_by_max_output_tokens(client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, input="[[words:30]]", max_output_tokens=16)
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert len(response.output_text.split()) == 16


# --- moderation ---------------------------------------------------------------------------


@pytest.fixture
def keyword_scoring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pin the simulator's own keyword scorer: the local detectors have their own tests."""
    monkeypatch.setattr(scoring, "_detector", lambda: None)


def flagged(result: Any) -> set[str]:
    return {name for name, on in result.categories.model_dump(by_alias=True).items() if on}


@pytest.mark.usefixtures("keyword_scoring")
def test_moderation_of_a_string(client: openai.OpenAI, sim: Any) -> None:
    raw = client.moderations.with_raw_response.create(input="[[flag:violence]] them")
    result = raw.parse().results[0]
    assert result.flagged and flagged(result) == {"violence"}
    assert set(result.category_scores.model_dump(by_alias=True)) == set(CATEGORIES)
    assert raw.headers["x-ratelimit-limit-tokens"] == "10000"
    assert raw.headers["x-ratelimit-limit-requests"] == "500"
    assert sim.moderation_inputs == ["[[flag:violence]] them"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I will murder them", {"violence"}),
        ("I want to kill myself", {"self-harm", "self-harm/intent"}),
        ("how to shoplift a watch", {"illicit"}),
        ("a sunny day at the beach", set()),
    ],
)
def test_keyword_fallback(text: str, expected: set[str]) -> None:
    assert scoring.keyword_scores(text)[1] == expected


def test_local_detectors_score_when_present(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(text: str) -> dict[str, Any]:
        return {"categories": {"hate": True}, "category_scores": {"hate": 0.7}}

    monkeypatch.setattr(scoring, "_detector", lambda: fake)
    scores, flags = scoring.text_scores("anything [[say:ignored]] [[flag:illicit]]")
    assert flags == {"hate", "illicit"}
    assert scores["hate"] == 0.7 and scores["illicit"] == 0.99 and scores["violence"] == 0.0


@pytest.mark.usefixtures("keyword_scoring")
def test_moderation_gives_one_result_per_string(client: openai.OpenAI) -> None:
    results = client.moderations.create(input=["a sunny day", "[[flag:violence]] hello"]).results
    assert [r.flagged for r in results] == [False, True]
    assert flagged(results[1]) == {"violence"}
    assert results[1].category_scores.violence == 0.99


@pytest.mark.usefixtures("keyword_scoring")
def test_moderation_of_multimodal_parts_is_one_result(client: openai.OpenAI) -> None:
    parts: Any = [
        {"type": "text", "text": "look at this"},
        {"type": "image_url", "image_url": {"url": "https://example.com/flag-violence.png"}},
    ]
    (result,) = client.moderations.create(model="omni-moderation-latest", input=parts).results
    assert flagged(result) == {"violence"}
    applied = result.category_applied_input_types.model_dump(by_alias=True)
    assert applied["violence"] == ["text", "image"] and applied["hate"] == ["text"]


@pytest.mark.usefixtures("keyword_scoring")
def test_say_directive_does_not_flag_the_prompt(client: openai.OpenAI) -> None:
    assert not client.moderations.create(input="[[say:I will murder you]]").results[0].flagged


@pytest.mark.parametrize(
    ("mode", "error"),
    [("down", openai.InternalServerError), ("rate_limited", openai.RateLimitError)],
)
def test_moderation_outages(client: openai.OpenAI, sim: Any, mode: str, error: type) -> None:
    sim.config.moderation = mode
    with pytest.raises(error):
        client.moderations.create(input="hello")


@pytest.mark.usefixtures("keyword_scoring")
def test_slow_moderation(client: openai.OpenAI, sim: Any) -> None:
    status, config = http(
        sim, "POST", "/_sim/config", b'{"moderation":"slow","slow_moderation_s":0.2}'
    )
    assert status == 200 and config["moderation"] == "slow"
    started = time.monotonic()
    client.moderations.create(input="hello")
    assert time.monotonic() - started >= 0.2


# --- embeddings, models, admin, safety cases ----------------------------------------------


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_embeddings_are_deterministic(client: openai.OpenAI, encoding: str) -> None:
    make = client.embeddings.create
    kwargs: dict[str, Any] = {} if encoding == "base64" else {"encoding_format": "float"}
    first = make(model="text-embedding-3-small", input=["abc", "xyz"], **kwargs)
    again = make(model="text-embedding-3-small", input="abc", **kwargs)
    assert len(first.data) == 2 and len(first.data[0].embedding) == 16
    assert first.data[0].embedding == pytest.approx(again.data[0].embedding)
    assert first.data[0].embedding != first.data[1].embedding
    assert first.usage.prompt_tokens == 2
    raw = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input="a")
    assert "x-ratelimit-remaining-tokens" in raw.headers


def test_models(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert {"gpt-4o-mini", "gpt-5", "omni-moderation-latest"} <= set(ids)
    assert client.models.retrieve("gpt-4.1").id == "gpt-4.1"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-0")


def test_key_rotation_through_the_admin_api(sim: Any) -> None:
    admin = openai.OpenAI(
        base_url=sim.url + "/v1", api_key=sim.api_key, admin_api_key=sim.api_key, max_retries=0
    )
    accounts = admin.admin.organization.projects
    key = accounts.service_accounts.api_keys.create("sa_1", project_id="proj_1", name="new")
    assert key.value.startswith("sk-sim-") and key.name == "new"
    minted = openai.OpenAI(base_url=sim.url + "/v1", api_key=key.value, max_retries=0)
    assert minted.models.list().data
    deleted = accounts.api_keys.delete(key.id, project_id="proj_1")
    assert deleted.deleted and deleted.id == key.id
    with pytest.raises(openai.AuthenticationError):
        minted.models.list()


def test_safety_cases_registered_by_tests(client: openai.OpenAI, sim: Any) -> None:
    status, case = http(sim, "POST", "/_sim/cases", b'{"id":"C-1","entity_identifier":"abc"}')
    assert status == 200 and case["object"] == "safety.case"
    fetched = client.safety.cases.retrieve("C-1")
    assert fetched.entity_identifier == "abc" and fetched.reason == "cyber_abuse"
    assert fetched.notice.type == "warning"
    with pytest.raises(openai.NotFoundError):
        client.safety.cases.retrieve("C-404")


# --- the HTTP surface ---------------------------------------------------------------------


def test_wrong_key_is_refused(sim: Any) -> None:
    wrong = openai.OpenAI(base_url=sim.url + "/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        wrong.models.list()
    assert raised.value.code == "invalid_api_key"


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/v1/files", None, 404),
        ("POST", "/v1/chat/completions", b"{not json", 400),
        ("POST", "/v1/chat/completions", b'{"model": "m"}', 400),
        ("POST", "/v1/chat/completions", b'{"model": "m", "messages": 3}', 400),
        ("POST", "/v1/moderations", b'{"input": 3}', 400),
    ],
)
def test_bad_requests_get_the_openai_envelope(
    sim: Any, method: str, path: str, body: bytes | None, status: int
) -> None:
    got, payload = http(sim, method, path, body)
    assert got == status
    assert set(payload["error"]) == {"message", "type", "param", "code"}


def test_control_endpoints(client: openai.OpenAI, sim: Any) -> None:
    chat(client, "hello")
    status, log = http(sim, "GET", "/_sim/log")
    assert status == 200 and log["calls"] == {"/v1/chat/completions": 1}
    assert log["requests"][0]["headers"]["authorization"] == f"Bearer {sim.api_key}"
    assert http(sim, "POST", "/_sim/config", b'{"nope": 1}')[0] == 400
    assert http(sim, "POST", "/_sim/reset")[0] == 200
    assert not sim.calls and not sim.requests


def test_serve_in_thread_picks_a_free_port_and_stops() -> None:
    app = create_app()
    with serve_in_thread(app) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="any", max_retries=0)
        assert client.models.list().data
    with pytest.raises(openai.APIConnectionError):
        client.models.list()


def test_images_and_their_safety_fault(client: openai.OpenAI) -> None:
    image = client.images.generate(model="gpt-image-1", prompt="a cat", n=2)
    assert len(image.data) == 2 and image.data[0].b64_json
    with pytest.raises(openai.BadRequestError) as raised:
        client.images.generate(model="gpt-image-1", prompt="[[fault:moderation_blocked]]")
    assert raised.value.code == "moderation_blocked"
