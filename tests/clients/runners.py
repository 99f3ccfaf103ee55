"""The Python runners: openai-python and LangChain's ChatOpenAI play a case of the table.

Each returns the case's `Outcome` as a dict, the shape the node runners print. The end user is
given the client's own way: `safety_identifier` for openai-python, the `X-End-User` header for
LangChain (both are SPEC §3's ways).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import openai

from tests.clients.cases import MODEL, TOOL_RESULT, WEATHER_TOOL, Case, Outcome

CHAT_TOOL = {"type": "function", "function": WEATHER_TOOL}
RESPONSES_TOOL = {"type": "function", **WEATHER_TOOL}


def run(player: Callable[..., None], case: Case, client: str, base_url: str,
        key: str) -> dict[str, Any]:  # fmt: skip
    """Play one case; the client's exception becomes the outcome's error."""
    outcome = Outcome()
    started = time.perf_counter()
    try:
        player(case, client, base_url, key, outcome)
    except openai.APIStatusError as exc:
        code = exc.code if isinstance(exc.code, str) else None
        outcome.error = {"class": type(exc).__name__, "status": exc.status_code, "code": code}
    outcome.elapsed = time.perf_counter() - started
    return asdict(outcome)


# --- openai-python ---------------------------------------------------------------------------


def openai_python(case: Case, client_name: str, base_url: str, key: str, out: Outcome) -> None:
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=case.max_retries)
    prompt = case.for_client(client_name)["prompt"]
    extra: dict[str, Any] = {"safety_identifier": f"{client_name}-user"} if case.end_user else {}
    if case.api == "responses":
        _responses(client, case, prompt, extra, out)
    else:
        _chat(client, case, [{"role": "user", "content": prompt}], extra, out)


def _chat(client: openai.OpenAI, case: Case, messages: list[dict[str, Any]],
          extra: dict[str, Any], out: Outcome) -> None:  # fmt: skip
    if case.tool_choice:
        extra = {**extra, "tools": [CHAT_TOOL], "tool_choice": case.tool_choice}
    if not case.stream:
        answer = client.chat.completions.create(model=MODEL, messages=messages, **extra)
        choice = answer.choices[0]
        out.text, out.finish = choice.message.content, choice.finish_reason
        out.tool_calls = [{"name": c.function.name, "arguments": c.function.arguments}
                          for c in choice.message.tool_calls or ()]  # fmt: skip
    else:
        _chat_stream(client.chat.completions.create(model=MODEL, messages=messages, stream=True,
                                                    **extra), out)  # fmt: skip
    if case.round_trip and not case.stream and out.tool_calls:
        message = answer.choices[0].message
        messages = [*messages, message.model_dump(exclude_none=True),
                    {"role": "tool", "tool_call_id": message.tool_calls[0].id,
                     "content": TOOL_RESULT}]  # fmt: skip
        extra = {k: v for k, v in extra.items() if k != "tool_choice"}
        out.tool_calls = []
        _chat(client, dataclasses.replace(case, tool_choice=None, round_trip=False), messages,
              extra, out)


def _chat_stream(stream: Any, out: Outcome) -> None:
    text, calls = [], {}
    for chunk in stream:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        if choice.delta.content:
            text.append(choice.delta.content)
        for delta in choice.delta.tool_calls or ():
            call = calls.setdefault(delta.index, {"name": "", "arguments": ""})
            call["name"] += delta.function.name or ""
            call["arguments"] += delta.function.arguments or ""
        out.finish = choice.finish_reason or out.finish
    out.text, out.chunks, out.tool_calls = "".join(text), len(text), list(calls.values())


def _responses(client: openai.OpenAI, case: Case, prompt: str, extra: dict[str, Any],
               out: Outcome) -> None:  # fmt: skip
    if case.tool_choice:
        extra = {**extra, "tools": [RESPONSES_TOOL], "tool_choice": case.tool_choice}
    if not case.stream:
        response = client.responses.create(model=MODEL, input=prompt, **extra)
        out.text = response.output_text
        out.tool_calls = [{"name": i.name, "arguments": i.arguments}
                          for i in response.output if i.type == "function_call"]  # fmt: skip
        return
    text, calls = [], []
    for event in client.responses.create(model=MODEL, input=prompt, stream=True, **extra):
        if event.type == "response.output_text.delta":
            text.append(event.delta)
        elif event.type == "response.output_item.done" and event.item.type == "function_call":
            calls.append({"name": event.item.name, "arguments": event.item.arguments})
    out.text, out.chunks, out.tool_calls = "".join(text), len(text), calls


# --- LangChain -------------------------------------------------------------------------------


def langchain(case: Case, client_name: str, base_url: str, key: str, out: Outcome) -> None:
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_openai import ChatOpenAI

    headers = {"X-End-User": f"{client_name}-user"} if case.end_user else {}
    llm = ChatOpenAI(model=MODEL, base_url=base_url, api_key=key, max_retries=case.max_retries,
                     default_headers=headers, use_responses_api=case.api == "responses",
                     stream_usage=True)  # fmt: skip
    model: Any = llm.bind_tools([CHAT_TOOL], tool_choice=case.tool_choice) if case.tool_choice \
        else llm
    messages: list[Any] = [HumanMessage(case.for_client(client_name)["prompt"])]
    message = _langchain_call(model, messages, case.stream, out)
    if case.round_trip and message.tool_calls:
        call = message.tool_calls[0]
        messages += [message, ToolMessage(TOOL_RESULT, tool_call_id=call["id"])]
        _langchain_call(llm.bind_tools([CHAT_TOOL]), messages, case.stream, out)


def _langchain_call(model: Any, messages: list[Any], stream: bool, out: Outcome) -> Any:
    if stream:
        message, out.chunks = None, 0
        for chunk in model.stream(messages):
            out.chunks += bool(_lc_text(chunk))
            message = chunk if message is None else message + chunk
    else:
        message = model.invoke(messages)
    out.text = _lc_text(message)
    out.finish = message.response_metadata.get("finish_reason")
    out.tool_calls = [{"name": c["name"], "arguments": json.dumps(c["args"])}
                      for c in message.tool_calls]  # fmt: skip
    return message


def _lc_text(message: Any) -> str:
    """Chat gives a string; the Responses API gives content blocks."""
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content if isinstance(b, dict))


PLAYERS = {"openai-python": openai_python, "langchain": langchain}
