"""Every text the model reads is moderated: the declared lists against the SDK's request types,
and each declared field through a real gateway with the official SDK."""

from __future__ import annotations

import collections.abc
import re
import types
import typing
from typing import Any

import openai
import pytest
import typing_extensions
from openai.types import image_generate_params
from openai.types.chat import completion_create_params
from openai.types.responses import response_create_params

from goodstanding.endpoints import MODERATED, NOT_MODEL_READ
from goodstanding.endpoints.fields import IMAGE, JSON, TEXT

MODEL = "gpt-4o-mini"
VIOLENT = "I will kill you"
FLAGGED_IMAGE = "https://example.com/flag-violence.png"
MODERATING = (TEXT, IMAGE, JSON)

# --- the declared lists against the official SDK's request types -------------------------------

REQUESTS = {
    "chat.completions": completion_create_params.CompletionCreateParamsBase,
    "responses": response_create_params.ResponseCreateParamsBase,
    "images.generations": image_generate_params.ImageGenerateParamsBase,
}
_WRAPPERS = {typing.Required, typing.NotRequired, typing.Annotated, typing_extensions.Required,
             typing_extensions.NotRequired, typing_extensions.Annotated,
             typing_extensions.ReadOnly}  # fmt: skip
_SEQUENCES = {list, tuple, collections.abc.Iterable, collections.abc.Sequence}


def sdk_text_paths(request: type) -> set[str]:
    """The paths of every string (or free JSON) a request type can hold, unions flattened."""
    found: set[str] = set()
    _walk_type(request, "", found, frozenset())
    return found


def _walk_type(hint: Any, path: str, found: set[str], seen: frozenset[Any]) -> None:
    while typing.get_origin(hint) in _WRAPPERS:
        hint = typing.get_args(hint)[0]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is str or hint is object or hint is Any:
        found.add(path)  # a string, or any JSON at all
    elif origin is typing.Literal or hint in (int, float, bool, type(None)):
        return  # enumerations and numbers carry no free text
    elif origin in (typing.Union, types.UnionType):
        for arg in args:
            _walk_type(arg, path, found, seen)
    elif origin in _SEQUENCES:
        _walk_type(args[0], path + "[]", found, seen)
    elif origin in (dict, collections.abc.Mapping):
        if args[1] in (object, Any):
            found.add(path)  # a JSON schema, free-form arguments
        else:
            _walk_type(args[1], path + ".*", found, seen)
    elif typing_extensions.is_typeddict(hint):
        if hint in seen:
            return
        for name, inner in typing.get_type_hints(hint, include_extras=True).items():
            _walk_type(inner, f"{path}.{name}" if path else name, found, seen | {hint})
    else:
        raise AssertionError(f"{path}: a type this walk does not know: {hint!r}")


def _plain(path: str) -> str:
    return re.sub(r"\[[^\]]+\]", "[]", path)  # input[type=x].result -> input[].result


def _moderated(endpoint: str) -> dict[str, str]:
    return {_plain(p): k for p, k in MODERATED[endpoint].items() if k in MODERATING}


def _covered(path: str, moderated: dict[str, str]) -> bool:
    if path in moderated:
        return True
    return any(moderated.get(path[:m.start()]) == JSON for m in re.finditer(r"[.\[]", path))


@pytest.mark.parametrize("endpoint", REQUESTS)
def test_every_string_field_of_the_request_is_moderated_or_said_not_to_be_read(endpoint):
    moderated, skipped = _moderated(endpoint), NOT_MODEL_READ[endpoint]
    unlisted = {p for p in sdk_text_paths(REQUESTS[endpoint])
                if not _covered(p, moderated) and p not in skipped}
    assert not unlisted, f"add these to the endpoint's MODERATED or NOT_MODEL_READ (endpoints/): " \
                         f"{sorted(unlisted)}"  # fmt: skip


@pytest.mark.parametrize("endpoint", REQUESTS)
def test_the_declared_fields_exist_and_do_not_contradict_each_other(endpoint):
    sdk = sdk_text_paths(REQUESTS[endpoint])
    moderated, skipped = _moderated(endpoint), NOT_MODEL_READ[endpoint]
    assert not set(moderated) - sdk, "a moderated path the SDK does not know (a typo?)"
    assert not set(skipped) - sdk, "a 'not model-read' path the SDK does not know (a typo?)"
    assert not set(moderated) & set(skipped), "both moderated and said not to be read"
    assert all(reason for reason in skipped.values())


def test_the_walk_of_the_sdk_types_finds_the_fields_of_the_issue():
    """The check above cannot pass vacuously: the walk sees the fields that once slipped by."""
    chat, responses = sdk_text_paths(REQUESTS["chat.completions"]), \
        sdk_text_paths(REQUESTS["responses"])  # fmt: skip
    assert {"tools[].function.description", "tools[].function.parameters", "messages[].name",
            "response_format.json_schema.schema", "prediction.content"} <= chat
    assert {"tools[].description", "tools[].parameters", "text.format.schema",
            "prompt.variables.*", "input[].content[].text"} <= responses


# --- every declared field, through a real gateway --------------------------------------------

_BASE = {
    "chat.completions": ("/chat/completions", {"model": MODEL, "safety_identifier": "u1",
                         "messages": [{"role": "user", "content": "hello"}]}),
    "responses": ("/responses", {"model": MODEL, "safety_identifier": "u1", "input": "hello"}),
    "images.generations": ("/images/generations", {"model": "gpt-image-1", "user": "u1",
                                                   "prompt": "a garden"}),
}  # fmt: skip
_LEAVES = {
    TEXT: VIOLENT,
    IMAGE: FLAGGED_IMAGE,
    JSON: {"type": "object", "properties": {"q": {"type": "string", "description": VIOLENT}}},
}
_TOKENS = re.compile(r"\[[^\]]*\]|[^.\[\]]+")


def body_with(endpoint: str, path: str, leaf: Any) -> dict[str, Any]:
    """The endpoint's smallest body with ``leaf`` placed at ``path``."""
    _, base = _BASE[endpoint]
    value = leaf
    tokens = _TOKENS.findall(path)
    for i in range(len(tokens) - 1, -1, -1):
        token = tokens[i]
        if token.startswith("["):
            element = value if isinstance(value, dict) else {}
            if "=" in token:  # the first element type the override names
                key, _, kinds = token[1:-1].partition("=")
                element = {key: kinds.split("|")[0], **element}
            if tokens[i - 1] == "messages":
                element = {"role": "user", **element}
            value = [element if element else value]
        elif token == "*":
            value = {"variable": value}
        else:
            value = {token: value}
    return {**base, **value}


def _declared() -> list[tuple[str, str, str]]:
    return [(endpoint, path, kind) for endpoint, paths in MODERATED.items()
            for path, kind in paths.items() if kind in MODERATING]  # fmt: skip


@pytest.mark.parametrize(("endpoint", "path", "kind"), _declared())
def test_the_body_builder_places_the_leaf_where_the_path_says(endpoint, path, kind):
    from goodstanding.moderation.parts import extract

    parts = extract(endpoint, body_with(endpoint, path, _LEAVES[kind])).parts
    wanted = ("image", FLAGGED_IMAGE) if kind == IMAGE else ("text", VIOLENT)
    assert any(k == wanted[0] and wanted[1] in c for k, c in parts), parts


def test_a_threat_in_any_declared_field_is_refused_and_nothing_is_sent(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_LIMITS__IP__RPM="100000")
    client, refused = gw.client(), []
    for i, (endpoint, path, kind) in enumerate(_declared()):
        url, _ = _BASE[endpoint]
        body = body_with(endpoint, path, _LEAVES[kind])
        body["user" if endpoint == "images.generations" else "safety_identifier"] = f"u{i}"
        with pytest.raises(openai.BadRequestError) as caught:  # one end user each: no strikes
            client.post(url, body=body, cast_to=object)
        assert caught.value.code == "content_policy_violation", (endpoint, path)
        refused.append(path)
    assert len(refused) == len(_declared()) > 100
    assert sim.calls["/v1/chat/completions"] == sim.calls["/v1/responses"] == 0
    assert sim.calls["/v1/images/generations"] == 0


# --- the fields of the issue, in well-formed requests the upstream accepts when clean ----------

def _parameters(description: str) -> dict[str, Any]:
    return {"type": "object", "properties": {"city": {
        "type": "object", "description": "where", "properties": {"name": {
            "type": "string", "title": "City", "description": description,
            "enum": ["Paris", description]}}}}}  # fmt: skip


def _chat_cases(text: str) -> dict[str, dict[str, Any]]:
    user = {"role": "user", "content": "What is the weather like?"}
    tool = {"type": "function", "function": {"name": "weather", "description": "Gets weather.",
                                             "parameters": _parameters("a city name")}}
    return {
        "tool description": {"tools": [{"type": "function", "function": {
            "name": "weather", "description": text, "parameters": _parameters("a city")}}]},
        "nested parameter description": {"tools": [{"type": "function", "function": {
            "name": "weather", "description": "Gets weather.", "parameters": _parameters(text)}}]},
        "message name": {"messages": [{**user, "name": text}]},
        "json schema description": {"response_format": {"type": "json_schema", "json_schema": {
            "name": "answer", "description": text, "schema": _parameters("a city")}}},
        "json schema property": {"response_format": {"type": "json_schema", "json_schema": {
            "name": "answer", "schema": _parameters(text)}}},
        "prediction string": {"prediction": {"type": "content", "content": text}},
        "prediction parts": {"prediction": {"type": "content", "content": [
            {"type": "text", "text": text}]}},
        "clean tools": {"tools": [tool]},
    }  # fmt: skip


def _responses_cases(text: str) -> dict[str, dict[str, Any]]:
    return {
        "tool description": {"tools": [{"type": "function", "name": "weather",
                                        "description": text, "parameters": _parameters("a")}]},
        "tool parameters": {"tools": [{"type": "function", "name": "weather",
                                       "parameters": _parameters(text)}]},
        "text format schema": {"text": {"format": {"type": "json_schema", "name": "answer",
                                                   "schema": _parameters(text)}}},
        "text format description": {"text": {"format": {
            "type": "json_schema", "name": "answer", "description": text,
            "schema": _parameters("a")}}},
        "prompt variable": {"prompt": {"id": "pmpt_1", "variables": {"city": text}}},
        "prompt variable part": {"prompt": {"id": "pmpt_1", "variables": {
            "city": {"type": "input_text", "text": text}}}},
    }  # fmt: skip


@pytest.mark.parametrize("case", [c for c in _chat_cases("x") if c != "clean tools"])
def test_a_threat_in_a_chat_field_is_refused(gw, sim, case):
    create = gw.client().chat.completions.create
    request = {"model": MODEL, "safety_identifier": "u1",
               "messages": [{"role": "user", "content": "What is the weather like?"}]}
    create(**{**request, **_chat_cases("a gentle breeze")[case]})  # clean: served
    assert sim.calls["/v1/chat/completions"] == 1
    with pytest.raises(openai.BadRequestError) as caught:
        create(**{**request, **_chat_cases(VIOLENT)[case]})
    assert caught.value.code == "content_policy_violation"
    assert sim.calls["/v1/chat/completions"] == 1


@pytest.mark.parametrize("case", list(_responses_cases("x")))
def test_a_threat_in_a_responses_field_is_refused(gw, sim, case):
    create = gw.client().responses.create
    request = {"model": MODEL, "safety_identifier": "u1", "input": "What is the weather like?"}
    with pytest.raises(openai.BadRequestError) as caught:
        create(**{**request, **_responses_cases(VIOLENT)[case]})
    assert caught.value.code == "content_policy_violation"
    assert sim.calls["/v1/responses"] == 0
    if not case.startswith("prompt"):  # the simulator keeps no stored prompts
        create(**{**request, **_responses_cases("a gentle breeze")[case]})
        assert sim.calls["/v1/responses"] == 1


def test_a_stored_prompt_reference_is_accepted_and_its_variables_moderated(gw, sim):
    gw.client().responses.create(model=MODEL, safety_identifier="u1", prompt={
        "id": "pmpt_1", "version": "2", "variables": {"city": "Paris", "photo": {
            "type": "input_image", "image_url": "https://example.com/paris.png"}}})
    assert sim.calls["/v1/responses"] == 1
    assert {"type": "text", "text": "Paris"} in sim.moderation_inputs[0]
    assert {"type": "image_url", "image_url": {"url": "https://example.com/paris.png"}} in \
        sim.moderation_inputs[0]  # fmt: skip


def test_overrides_by_item_type_and_tool_results():
    from goodstanding.moderation.parts import extract

    found = extract("responses", {"input": [
        {"type": "image_generation_call", "id": "ig", "result": "iVBORw0KGgo" * 1000},
        {"type": "program_output", "id": "p", "call_id": "c", "result": "42"},
        {"type": "function_call_output", "call_id": "c", "output": "from the tool"},
        {"role": "user", "content": "from the user"}]})  # fmt: skip
    assert found.texts() == [(True, "42"), (True, "from the tool"), (False, "from the user")]
    # the generated image handed back is read by the model: moderated as an image
    assert found.parts[0] == ("image", "data:image/png;base64," + "iVBORw0KGgo" * 1000)
