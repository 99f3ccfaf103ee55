"""Chat Completions (``POST /v1/chat/completions``): its fields, its answer, its stream."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson

from goodstanding.endpoints.base import (
    Document,
    Endpoint,
    StreamShape,
    joined_text,
    token_counts,
)
from goodstanding.endpoints.fields import (
    FILE,
    IDS,
    IMAGE,
    JSON,
    LABEL,
    META,
    OWN_MODERATION,
    REFERENCE,
    REQUIRED,
    ROUTING,
    STORED,
    TEXT,
    prefixed,
)
from goodstanding.stream.sse import data

if TYPE_CHECKING:
    from goodstanding.call import Call
    from goodstanding.stream.reading import StreamState

NAME = "chat.completions"
USAGE_FIELDS = ("prompt_tokens", "completion_tokens")  # its usage: input, output tokens

# The parts of a content array (``text``, ``image_url``, ``file``, ``input_audio``, ``refusal``).
_PARTS = {
    "[].type": LABEL,
    "[].text": TEXT,
    "[].refusal": TEXT,
    "[].image_url.url": IMAGE,
    "[].file.filename": TEXT,
}

MODERATED = {
    "messages[].role": REQUIRED,
    "messages[].content": TEXT,
    **prefixed("messages[].content", _PARTS),
    "messages[].name": TEXT,  # the participant's name is put in the prompt
    "messages[].refusal": TEXT,
    "messages[].tool_calls[].function.name": TEXT,
    "messages[].tool_calls[].function.arguments": TEXT,
    "messages[].tool_calls[].custom.name": TEXT,
    "messages[].tool_calls[].custom.input": TEXT,
    "messages[].function_call.name": TEXT,
    "messages[].function_call.arguments": TEXT,
    "tools[].function.name": TEXT,
    "tools[].function.description": TEXT,
    "tools[].function.parameters": JSON,
    "tools[].custom.name": TEXT,
    "tools[].custom.description": TEXT,
    "tools[].custom.format.grammar.definition": TEXT,
    "functions[].name": TEXT,
    "functions[].description": TEXT,
    "functions[].parameters": JSON,
    "response_format.json_schema.name": TEXT,
    "response_format.json_schema.description": TEXT,
    "response_format.json_schema.schema": JSON,
    "prediction.content": TEXT,
    "prediction.content[].text": TEXT,
    "web_search_options.user_location.approximate.city": TEXT,
    "web_search_options.user_location.approximate.country": TEXT,
    "web_search_options.user_location.approximate.region": TEXT,
    "web_search_options.user_location.approximate.timezone": TEXT,
}

NOT_MODEL_READ = {
    "model": ROUTING,
    "user": IDS,
    "safety_identifier": IDS,
    "prompt_cache_key": IDS,
    "metadata.*": META,
    "stop": "stop sequences end sampling; they are never part of the prompt",
    "stop[]": "stop sequences end sampling; they are never part of the prompt",
    "audio.voice": ROUTING,
    "audio.voice.id": ROUTING,
    "moderation.model": OWN_MODERATION,
    "messages[].audio.id": STORED,
    "messages[].tool_call_id": IDS,
    "messages[].tool_calls[].id": IDS,
    "messages[].content[].file.file_data": FILE,
    "messages[].content[].file.file_id": FILE,
    "messages[].content[].input_audio.data": FILE,
    "function_call.name": REFERENCE,
    "tool_choice.function.name": REFERENCE,
    "tool_choice.custom.name": REFERENCE,
    "tool_choice.allowed_tools.tools[]": REFERENCE,
}


# --- a whole answer ------------------------------------------------------------------------
# Tool-call arguments and refusals count as output text: a model can be talked into putting
# violating text there as easily as into ``content``. So does a spoken answer's transcript
# (``modalities: ["audio"]``): its audio says what the transcript says, and its ``content``
# is empty.


def answer_text(document: Document) -> str:
    texts: list[str] = []
    for choice in document.get("choices") or ():
        message = choice.get("message") or {}
        for name in ("content", "refusal"):
            if isinstance(message.get(name), str):
                texts.append(message[name])
        if "audio" in message or "function_call" in message:  # rare: spoken, deprecated
            _rare_texts(message, texts)
        for call in message.get("tool_calls") or ():
            arguments = (call.get("function") or {}).get("arguments")
            if isinstance(arguments, str):
                texts.append(arguments)
    return "\n".join(texts)


def _rare_texts(message: dict[str, Any], texts: list[str]) -> None:
    """A spoken answer's transcript and the deprecated ``function_call``'s arguments (of a
    message, or a stream delta's pieces of them), added to ``texts``."""
    for name, key in (("audio", "transcript"), ("function_call", "arguments")):
        part = message.get(name)
        if isinstance(part, dict) and isinstance(part.get(key), str):
            texts.append(part[key])


def withhold(document: Document) -> Document:
    """Remove the answer the way OpenAI does when its own filter trips (SPEC §3)."""
    for choice in document.get("choices") or ():
        choice["message"] = {"role": "assistant", "content": None, "refusal": None}
        choice["finish_reason"] = "content_filter"
        if choice.get("logprobs") is not None:  # every token of the withheld text
            choice["logprobs"] = None
    return document


def answer_signal(document: Document) -> str | None:
    """``content_filter`` or ``refusal`` when the answer carries one of them."""
    for choice in document.get("choices") or ():
        if choice.get("finish_reason") == "content_filter":
            return "content_filter"
        if (choice.get("message") or {}).get("refusal"):
            return "refusal"
    return None


def latest_prompt(body: Document) -> str | None:
    """The newest user message's text."""
    for message in reversed(body.get("messages") or ()):
        if isinstance(message, dict) and message.get("role") == "user":
            return joined_text(message.get("content"))
    return None


# --- a stream ------------------------------------------------------------------------------

_CONTENT_DELTA = b'"delta":{"content":"'


def read_event(state: StreamState, event: bytes) -> tuple[bool, str]:
    """(pass the event on?, its text); usage from the ``include_usage`` chunk, stripped when
    the gateway asked for it."""
    payload = data(event)
    if not payload or payload == b"[DONE]":
        return True, ""
    has_usage = b'"usage":{' in payload or b'"usage": {' in payload
    if not has_usage:
        if not state.need_text:
            return True, ""
        if state.meta and state.choices is None:
            text = plain_content(payload)
            if text is not None:
                return True, text
    chunk = orjson.loads(payload)
    if not state.meta:
        state.meta = {k: chunk.get(k) for k in ("id", "created", "model", "object")}
    call = state.call
    if has_usage and isinstance(chunk.get("usage"), dict):
        call.tokens_in, call.tokens_out = token_counts(chunk["usage"], USAGE_FIELDS)
        if state.strip_usage and not chunk.get("choices"):
            return False, ""
    return True, delta_text(chunk, call, state.choices)


def plain_content(payload: bytes) -> str | None:
    """The text of the commonest chunk (one choice, a content delta only, not finished)
    found by a substring scan; None when not sure, and the chunk is parsed instead."""
    start = payload.find(_CONTENT_DELTA)
    if start < 0 or payload.find(b'"delta":', start + 8) >= 0:  # several choices
        return None
    start += len(_CONTENT_DELTA)
    end = payload.find(b'"}', start)
    if end < 0 or payload.find(b'"finish_reason":null', end) < 0:
        return None
    raw = payload[start:end]
    if b"\\" in raw or b'"' in raw:  # escapes to decode, or more fields in the delta
        return None
    return raw.decode()


def delta_text(chunk: dict[str, Any], call: Call,
               choices: dict[int, list[str]] | None = None) -> str:
    """The chunk's answer text; with ``choices``, each choice's text is also kept apart there
    (by its index)."""
    texts = []
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        if choices is not None:
            index = choice.get("index")
            mine = choices.setdefault(index if isinstance(index, int) else 0, [])
            start = len(texts)
        # OpenAI's own policy signals: the end user's offences (checks/upstream_policy.py)
        if choice.get("finish_reason") == "content_filter":
            call.upstream.signal = "content_filter"
        elif delta.get("refusal"):
            call.upstream.signal = "refusal"
        for name in ("content", "refusal"):
            if isinstance(delta.get(name), str):
                texts.append(delta[name])
        if "audio" in delta or "function_call" in delta:  # rare: spoken, deprecated
            _rare_texts(delta, texts)
        for tool in delta.get("tool_calls") or ():
            arguments = (tool.get("function") or {}).get("arguments")
            if isinstance(arguments, str):
                texts.append(arguments)
        if choices is not None:
            mine.extend(texts[start:])
    return "".join(texts)


def ends(out: bytes) -> bool:
    return out.endswith((b"[DONE]\n\n", b"[DONE]\r\n\r\n"))


def content_filter_end(call: Call, meta: dict[str, Any]) -> bytes:
    chunk = {
        "id": meta.get("id") or f"chatcmpl-{call.request_id}",
        "object": "chat.completion.chunk",
        "created": meta.get("created") or int(time.time()),
        "model": meta.get("model") or call.model,
        "choices": [{"index": 0, "delta": {}, "finish_reason": "content_filter"}],
    }
    return b"data: " + orjson.dumps(chunk) + b"\n\ndata: [DONE]\n\n"


CHAT = Endpoint(
    NAME, "POST", "/v1/chat/completions",
    generation=True,
    required=("model", "messages"),
    end_user_field="safety_identifier",
    counts_tokens=True,
    prompt_capped=True,
    output_caps=("max_completion_tokens", "max_tokens"),
    inline_moderation=True,
    asks_stream_usage=True,
    moderated=MODERATED,
    tool_results=("messages[role=tool|function]",),
    messages="messages",
    not_model_read=NOT_MODEL_READ,
    answer_text=answer_text,
    withhold=withhold,
    answer_signal=answer_signal,
    latest_prompt=latest_prompt,
    stream=StreamShape(read_event, (b'"usage":{', b'"usage": {'), ends, content_filter_end,
                       plain_scan=True),
)  # fmt: skip
