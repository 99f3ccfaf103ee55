"""The simulated upstream's tool calls, driven over real HTTP by the official `openai` SDK."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from goodstanding.simulate.tools import RESULT_PREFIX

MODEL = "gpt-4o-mini"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]},
                           "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}  # fmt: skip
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
# the Responses API's flat tool shape
WEATHER_FLAT = {"type": "function", **WEATHER["function"]}


@pytest.fixture
def client(sim: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=sim.url + "/v1", api_key=sim.api_key, max_retries=0)


def chat(client: openai.OpenAI, text: str, **kwargs: Any) -> Any:
    kwargs.setdefault("tools", [WEATHER, TIME])
    return client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": text}], **kwargs)


@pytest.mark.parametrize(("prompt", "choice", "name"), [
    ("hello", "required", "get_weather"),
    ("hello", {"type": "function", "function": {"name": "get_time"}}, "get_time"),
    ("what time is it? use get_time", None, "get_time"),
    ("[[tool:get_time]]", None, "get_time"),
])  # fmt: skip
def test_a_tool_is_called_when_asked_or_required(client, prompt, choice, name) -> None:
    kwargs = {"tool_choice": choice} if choice else {}
    answer = chat(client, prompt, **kwargs)
    choice0 = answer.choices[0]
    assert choice0.finish_reason == "tool_calls"
    assert choice0.message.content is None
    (call,) = choice0.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == name
    assert isinstance(json.loads(call.function.arguments), dict)


def test_arguments_follow_the_schema_or_the_directive(client) -> None:
    answer = chat(client, "weather please", tool_choice="required")
    args = json.loads(answer.choices[0].message.tool_calls[0].function.arguments)
    assert args == {"city": "sim", "unit": "c", "days": 1}
    answer = chat(client, '[[tool:get_weather:{"city": "Paris"}]]')
    args = json.loads(answer.choices[0].message.tool_calls[0].function.arguments)
    assert args == {"city": "Paris"}


@pytest.mark.parametrize("kwargs", [{}, {"tool_choice": "none"}, {"tools": []}])
def test_text_when_no_tool_is_asked_for(client, kwargs) -> None:
    prompt = "hello" if "tool_choice" not in kwargs else "use get_weather"
    answer = chat(client, prompt, **kwargs)
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.tool_calls is None
    assert answer.choices[0].message.content


def test_a_streamed_tool_call_comes_as_argument_deltas(client) -> None:
    chunks = list(chat(client, "hi", tool_choice="required", stream=True,
                       stream_options={"include_usage": True}))  # fmt: skip
    deltas = [c.choices[0].delta.tool_calls[0] for c in chunks
              if c.choices and c.choices[0].delta.tool_calls]  # fmt: skip
    assert deltas[0].id.startswith("call_") and deltas[0].function.name == "get_weather"
    assert deltas[0].function.arguments == ""
    pieces = [d.function.arguments for d in deltas[1:]]
    assert len(pieces) >= 2 and all(d.index == 0 for d in deltas)
    assert json.loads("".join(pieces)) == {"city": "sim", "unit": "c", "days": 1}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "tool_calls"
    assert chunks[-1].usage.completion_tokens > 0


def test_a_tool_result_is_answered_with_text(client) -> None:
    first = chat(client, "hi", tool_choice="required").choices[0].message
    call = first.tool_calls[0]
    messages = [
        {"role": "user", "content": "hi"},
        first.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"},
    ]
    answer = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.content == RESULT_PREFIX + "sunny, 21 C"


def test_a_required_tool_is_called_again_after_a_result(client) -> None:
    messages = [{"role": "user", "content": "hi [[tool:get_time]]"},
                {"role": "tool", "tool_call_id": "call_1", "content": "noon"}]  # fmt: skip
    again = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER, TIME],
                                           tool_choice="required")  # fmt: skip
    assert again.choices[0].message.tool_calls[0].function.name == "get_weather"
    text = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER, TIME])
    assert text.choices[0].message.content == RESULT_PREFIX + "noon"


def test_faults_win_over_tools(client) -> None:
    answer = chat(client, "[[fault:content_filter]]", tool_choice="required")
    assert answer.choices[0].finish_reason == "content_filter"


# --- Responses -----------------------------------------------------------------------------


def test_responses_function_call(client) -> None:
    response = client.responses.create(model=MODEL, input="hi", tools=[WEATHER_FLAT],
                                       tool_choice="required")  # fmt: skip
    assert response.status == "completed"
    (item,) = response.output
    assert item.type == "function_call" and item.name == "get_weather"
    assert item.call_id.startswith("call_") and item.status == "completed"
    assert json.loads(item.arguments)["city"] == "sim"
    named = client.responses.create(model=MODEL, input="hi", tools=[WEATHER_FLAT],
                                    tool_choice={"type": "function", "name": "get_weather"})
    assert named.output[0].type == "function_call"


def test_responses_streamed_function_call(client) -> None:
    events = list(client.responses.create(model=MODEL, input="use get_weather",
                                          tools=[WEATHER_FLAT], stream=True))  # fmt: skip
    kinds = [e.type for e in events]
    n = kinds.count("response.function_call_arguments.delta")
    assert n >= 2
    assert kinds == ["response.created", "response.in_progress", "response.output_item.added",
                     *["response.function_call_arguments.delta"] * n,
                     "response.function_call_arguments.done", "response.output_item.done",
                     "response.completed"]  # fmt: skip
    assert [e.sequence_number for e in events] == list(range(len(events)))
    joined = "".join(e.delta for e in events if e.type.endswith("arguments.delta"))
    done = events[-3]
    assert done.arguments == joined and json.loads(joined)["city"] == "sim"
    assert events[-1].response.output[0].arguments == joined


def test_responses_tool_result_round_trip(client) -> None:
    first = client.responses.create(model=MODEL, input="hi", tools=[WEATHER_FLAT],
                                    tool_choice="required").output[0]  # fmt: skip
    second = client.responses.create(model=MODEL, tools=[WEATHER_FLAT], input=[
        {"role": "user", "content": "hi"},
        {"type": "function_call", "call_id": first.call_id, "name": first.name,
         "arguments": first.arguments},
        {"type": "function_call_output", "call_id": first.call_id, "output": "rainy"},
    ])  # fmt: skip
    assert second.status == "completed"
    assert second.output_text == RESULT_PREFIX + "rainy"


# --- a 429 that a retry gets past ------------------------------------------------------------


def test_429_once_refuses_the_first_request_only(client, sim) -> None:
    prompt = "[[fault:429-once:a1]] hello"
    with pytest.raises(openai.RateLimitError) as caught:
        chat(client, prompt, tools=[])
    assert caught.value.response.headers["retry-after"] == "1"
    assert chat(client, prompt, tools=[]).choices[0].finish_reason == "stop"
    with pytest.raises(openai.RateLimitError):  # another id: refused once too
        chat(client, "[[fault:429-once:b2]]", tools=[])
    sim.reset()
    with pytest.raises(openai.RateLimitError):  # a reset forgets what was answered
        chat(client, prompt, tools=[])
