"""What the events of one stream say: the usage for the audit record, and the answer text.

Usage comes from Chat's ``include_usage`` chunk (which the gateway asks for when the client did
not, and then strips again) and from Responses' terminal ``response.completed`` /
``response.incomplete`` event. Text is read only when output checks want it.
"""

from __future__ import annotations

from typing import Any

import orjson

from goodstanding.call import Call
from goodstanding.stream.sse import data

RESPONSE_DONE = (b"response.completed", b"response.incomplete", b"response.failed")
# substrings that mark the event carrying usage: Chat's usage chunk, Responses' terminal event
USAGE_MARKERS = {True: (b'"usage":{', b'"usage": {'), False: RESPONSE_DONE}
_CONTENT_DELTA = b'"delta":{"content":"'
_TEXT_EVENTS = {
    "response.output_text.delta",
    "response.refusal.delta",
    "response.function_call_arguments.delta",
}


class StreamState:
    """What we learn from one stream: usage, and the text of each event."""

    __slots__ = ("call", "chat", "meta", "need_text", "output_tokens", "prompt_tokens",
                 "strip_usage")  # fmt: skip

    def __init__(self, call: Call, need_text: bool = False) -> None:
        self.call = call
        self.chat = call.endpoint == "chat.completions"
        self.strip_usage = bool(call.notes.get("injected_include_usage"))
        self.need_text = need_text  # output checks read the text: else only usage is looked for
        self.meta: dict[str, Any] = {}

    def inspect(self, event: bytes) -> tuple[bool, str]:
        """Return (pass the event on?, its answer text)."""
        if self.chat:
            return self._chat(event)
        return self._responses(event)

    def _chat(self, event: bytes) -> tuple[bool, str]:
        payload = data(event)
        if not payload or payload == b"[DONE]":
            return True, ""
        has_usage = b'"usage":{' in payload or b'"usage": {' in payload
        if not has_usage:
            if not self.need_text:
                return True, ""
            if self.meta:
                text = plain_content(payload)
                if text is not None:
                    return True, text
        chunk = orjson.loads(payload)
        if not self.meta:
            self.meta = {k: chunk.get(k) for k in ("id", "created", "model", "object")}
        if has_usage and isinstance(chunk.get("usage"), dict):
            usage = chunk["usage"]
            self.call.tokens_in = usage.get("prompt_tokens")
            self.call.tokens_out = usage.get("completion_tokens")
            if self.strip_usage and not chunk.get("choices"):
                return False, ""
        return True, chat_delta_text(chunk, self.call)

    def _responses(self, event: bytes) -> tuple[bool, str]:
        if any(name in event[:64] for name in RESPONSE_DONE):
            payload = data(event)
            response = (orjson.loads(payload) if payload else {}).get("response") or {}
            usage = response.get("usage") or {}
            if (response.get("incomplete_details") or {}).get("reason") == "content_filter":
                self.call.notes["upstream_signal"] = "content_filter"
            self.call.tokens_in = usage.get("input_tokens")
            self.call.tokens_out = usage.get("output_tokens")
            return True, ""
        if not self.need_text or b".delta" not in event[:80]:
            return True, ""
        payload = data(event)
        parsed = orjson.loads(payload) if payload else {}
        if parsed.get("type") in _TEXT_EVENTS:
            if parsed["type"] == "response.refusal.delta":
                self.call.notes["upstream_signal"] = "refusal"
            self.meta.setdefault("item_id", parsed.get("item_id"))
            return True, parsed.get("delta") or ""
        return True, ""


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


def chat_delta_text(chunk: dict[str, Any], call: Call) -> str:
    texts = []
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        # OpenAI's own policy signals: the end user's offences (checks/upstream_policy.py)
        if choice.get("finish_reason") == "content_filter":
            call.notes["upstream_signal"] = "content_filter"
        elif delta.get("refusal"):
            call.notes["upstream_signal"] = "refusal"
        for field in ("content", "refusal"):
            if isinstance(delta.get(field), str):
                texts.append(delta[field])
        for tool in delta.get("tool_calls") or ():
            arguments = (tool.get("function") or {}).get("arguments")
            if isinstance(arguments, str):
                texts.append(arguments)
    return "".join(texts)


def inspect_marked(state: StreamState, block: bytes, markers: tuple[bytes, ...]) -> bytes:
    """``block`` (whole events) less the events ``inspect`` drops, inspecting only those that
    hold a marker: the others pass on untouched whatever they say, when no text is wanted."""
    kept: list[bytes] = []
    copied = search = 0
    while True:
        hits = [hit for hit in (block.find(marker, search) for marker in markers) if hit >= 0]
        if not hits:
            break
        hit = min(hits)
        start = block.rfind(b"\n\n", 0, hit)
        start = 0 if start < 0 else start + 2
        end = block.find(b"\n\n", hit)
        end = len(block) if end < 0 else end + 2
        if not state.inspect(block[start:end])[0]:
            kept.append(block[copied:start])
            copied = end
        search = end
    if not copied:
        return block
    kept.append(block[copied:])
    return b"".join(kept)
