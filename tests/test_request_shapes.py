"""The shapes moderation walks are checked: a wrong type is a 400 naming the field, never a
forward and never a 500 — through a real gateway with the SDK, and as properties."""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goodstanding.call import Call
from goodstanding.checks.request import RequestCheck

MODEL = "gpt-4o-mini"
USER = {"role": "user", "content": "hello"}

CHAT = [
    ({"messages": [USER, USER, {"role": "user", "content": 3}]}, "messages[2].content"),
    ({"messages": [{"role": "user", "content": {"text": "hi"}}]}, "messages[0].content"),
    ({"messages": [{"role": 1, "content": "hi"}]}, "messages[0].role"),
    ({"messages": [{"content": "hi"}]}, "messages[0].role"),
    ({"messages": [USER, "hi"]}, "messages[1]"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
     "messages[0].content[0].text"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": 5}]}]},
     "messages[0].content[0].image_url"),
    ({"messages": [{"role": "user", "content": "hi", "name": ["ann"]}]}, "messages[0].name"),
    ({"messages": [{"role": "assistant", "tool_calls": {"id": "1"}}]}, "messages[0].tool_calls"),
    ({"messages": [USER], "tools": {"type": "function"}}, "tools"),
    ({"messages": [USER], "tools": [{"type": "function", "function": {
        "name": "f", "description": 7}}]}, "tools[0].function.description"),
    ({"messages": [USER], "response_format": {"type": "json_schema", "json_schema": "x"}},
     "response_format.json_schema"),
    ({"messages": [USER], "prediction": {"type": "content", "content": 1}}, "prediction.content"),
]  # fmt: skip
RESPONSES = [
    ({"input": [5]}, "input[0]"),
    ({"input": [{"role": "user", "content": 3}]}, "input[0].content"),
    ({"input": [{"role": 3, "content": "hi"}]}, "input[0].role"),
    ({"input": [{"role": "user", "content": [{"type": "input_text", "text": None}, 4]}]},
     "input[0].content[1]"),
    ({"input": [{"type": "function_call_output", "call_id": "c", "output": 5}]},
     "input[0].output"),
    ({"input": "hi", "instructions": ["be brief"]}, "instructions"),
    ({"input": "hi", "tools": [{"type": "function", "name": "f", "description": {}}]},
     "tools[0].description"),
    ({"input": "hi", "text": {"format": "json"}}, "text.format"),
    ({"prompt": "pmpt_1"}, "prompt"),
    ({"prompt": {"id": "pmpt_1", "variables": {"city": 3}}}, "prompt.variables.city"),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "param"), CHAT)
def test_a_malformed_chat_request_is_refused_naming_the_field(gw, sim, fields, param):
    with pytest.raises(openai.BadRequestError) as caught:
        gw.client().chat.completions.create(model=MODEL, safety_identifier="u1", **fields)
    assert caught.value.code == "invalid_request" and caught.value.param == param
    assert param in caught.value.message
    assert sim.calls["/v1/chat/completions"] == 0 and sim.calls["/v1/moderations"] == 0


@pytest.mark.parametrize(("fields", "param"), RESPONSES)
def test_a_malformed_responses_request_is_refused_naming_the_field(gw, sim, fields, param):
    with pytest.raises(openai.BadRequestError) as caught:
        gw.client().responses.create(model=MODEL, safety_identifier="u1", **fields)
    assert caught.value.code == "invalid_request" and caught.value.param == param
    assert sim.calls["/v1/responses"] == 0


def test_an_image_prompt_must_still_be_text(gw, sim):
    with pytest.raises(openai.BadRequestError) as caught:
        gw.client().images.generate(model="gpt-image-1", prompt={"id": "p"}, user="u1")
    assert caught.value.code == "invalid_request" and caught.value.param == "prompt"


def test_well_formed_requests_of_every_shape_are_served(gw, sim):
    client = gw.client()
    client.chat.completions.create(model=MODEL, safety_identifier="u1", messages=[
        {"role": "system", "content": [{"type": "text", "text": "be brief"}]},
        {"role": "user", "content": "hi", "name": "ann"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c", "content": [{"type": "text", "text": "done"}]},
    ], tools=[{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {}}}}])  # fmt: skip
    client.responses.create(model=MODEL, safety_identifier="u1", input=[
        {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c", "output": [
            {"type": "input_text", "text": "done"}]},
    ])  # fmt: skip
    assert sim.calls["/v1/chat/completions"] == sim.calls["/v1/responses"] == 1


# --- properties ------------------------------------------------------------------------------

scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | \
    st.floats(allow_nan=False) | st.text(max_size=8)  # fmt: skip
anything = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=12)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the right shape, sometimes anything at all."""
    return st.one_of(strategy, strategy, anything)


text = st.text(max_size=8)
part = st.fixed_dictionaries({"type": maybe(st.sampled_from(
    ["text", "image_url", "input_text", "input_image", "refusal", "file"]))}, optional={
    "text": maybe(text), "image_url": maybe(st.just("https://x/a.png") | st.fixed_dictionaries(
        {"url": maybe(st.just("https://x/a.png"))})), "refusal": maybe(text)})  # fmt: skip
content = maybe(text | st.lists(maybe(part), max_size=3))
call = st.fixed_dictionaries({}, optional={"id": text, "type": text, "function": maybe(
    st.fixed_dictionaries({}, optional={"name": maybe(text), "arguments": maybe(text)}))})
message = st.fixed_dictionaries({}, optional={
    "role": maybe(st.sampled_from(["system", "user", "assistant", "tool"])),
    "content": content, "name": maybe(text), "tool_calls": maybe(st.lists(call, max_size=2)),
})  # fmt: skip
schema = maybe(st.fixed_dictionaries({"type": st.just("object")}, optional={
    "properties": st.dictionaries(text, maybe(st.fixed_dictionaries(
        {"type": st.just("string")}, optional={"description": maybe(text)})), max_size=2)}))
tool = st.fixed_dictionaries({"type": st.just("function")}, optional={
    "function": maybe(st.fixed_dictionaries({}, optional={
        "name": maybe(text), "description": maybe(text), "parameters": schema})),
    "name": maybe(text), "description": maybe(text), "parameters": schema,
})  # fmt: skip
item = st.fixed_dictionaries({}, optional={
    "type": maybe(st.sampled_from(["message", "function_call", "function_call_output"])),
    "role": maybe(st.sampled_from(["user", "assistant", "developer"])), "content": content,
    "arguments": maybe(text), "output": content, "call_id": text,
})  # fmt: skip
common = {"model": maybe(st.just(MODEL)), "tools": maybe(st.lists(tool, max_size=2)),
          "stream": maybe(st.booleans()), "safety_identifier": maybe(st.just("u1"))}
chat_bodies = st.fixed_dictionaries({}, optional={
    **common, "messages": maybe(st.lists(maybe(message), max_size=3)),
    "response_format": maybe(st.fixed_dictionaries({"type": st.just("json_schema"),
        "json_schema": maybe(st.fixed_dictionaries({"name": maybe(text), "schema": schema}))})),
    "prediction": maybe(st.fixed_dictionaries({"type": st.just("content"), "content": content})),
})  # fmt: skip
responses_bodies = st.fixed_dictionaries({}, optional={
    **common, "input": maybe(text | st.lists(maybe(item), max_size=3)),
    "instructions": maybe(text),
    "prompt": maybe(st.fixed_dictionaries({"id": maybe(text)}, optional={
        "variables": maybe(st.dictionaries(text, maybe(text | part), max_size=2))})),
    "text": maybe(st.fixed_dictionaries({"format": maybe(st.fixed_dictionaries(
        {"type": st.just("json_schema"), "name": maybe(text), "schema": schema}))})),
})  # fmt: skip
image_bodies = st.fixed_dictionaries({}, optional={"model": maybe(st.just("gpt-image-1")),
                                                   "prompt": maybe(text)})  # fmt: skip
BODIES = {"chat.completions": chat_bodies, "responses": responses_bodies,
          "images.generations": image_bodies, "embeddings": st.dictionaries(text, anything)}


def verdict_for(endpoint: str, body: Any) -> Any:
    call = Call("r", "POST", "/v1/x", endpoint, {}, "127.0.0.1", raw_body=orjson.dumps(body))
    checking = RequestCheck().check(call)
    try:
        checking.send(None)  # the check awaits nothing: no event loop per example
    except StopIteration as done:
        return done.value
    raise AssertionError("the request check awaited something")


@pytest.mark.parametrize("endpoint", BODIES)
def test_any_body_is_valid_or_a_400_naming_the_field(endpoint):
    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(BODIES[endpoint])
    def check(body: dict[str, Any]) -> None:
        verdict = verdict_for(endpoint, body)
        if verdict.refused:
            error = verdict.error
            assert error.status == 400 and error.code == "invalid_request"
            assert error.param and error.param in error.message
            top = error.param.split(".")[0].split("[")[0]
            assert top in body or top in ("model", "messages", "input", "prompt")  # missing

    check()


_STRICT_MESSAGE = st.fixed_dictionaries({"role": st.sampled_from(["user", "tool"]), "content":
    text | st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": text}), max_size=2)},
    optional={"name": text})  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(_STRICT_MESSAGE, min_size=1, max_size=4))
def test_well_formed_messages_always_pass(messages):
    assert not verdict_for("chat.completions", {"model": MODEL, "messages": messages}).refused


BASE = {"chat.completions": {"model": MODEL, "messages": [USER]},
        "responses": {"model": MODEL, "input": "hello"},
        "images.generations": {"model": "gpt-image-1", "prompt": "a cat"}}  # fmt: skip


def test_random_bodies_never_make_the_gateway_fail(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_LIMITS__IP__RPM="100000",
                       GOODSTANDING_LIMITS__END_USER__RPM="100000")  # fmt: skip
    http = httpx2.Client(base_url=gw.url, headers={"Authorization": f"Bearer {gw.token}",
                                                   "X-End-User": "u1"})
    paths = {"chat.completions": "/v1/chat/completions", "responses": "/v1/responses",
             "images.generations": "/v1/images/generations"}  # fmt: skip

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(list(paths)).flatmap(
        lambda e: st.tuples(st.just(e), BODIES[e])))  # fmt: skip
    def check(case: tuple[str, dict[str, Any]]) -> None:
        endpoint, generated = case
        body = {**BASE[endpoint], **{k: v for k, v in generated.items() if k != "model"}}
        response = http.post(paths[endpoint], content=orjson.dumps(body))
        assert response.status_code < 500, response.text
        error = response.json().get("error") if response.status_code >= 400 else None
        if error and error["code"] == "invalid_request":
            assert error["param"], error

    with http:
        check()
    forwarded = sum(sim.calls[path] for path in paths.values())
    assert forwarded > 0  # some of the bodies were well formed: the property is not vacuous
