"""Every text and image part of a generation request, the way moderation needs to see them.

Nothing is skipped because of its role: system and developer prompts, the whole history
(assistant turns included, which a client can forge), tool results and tool-call arguments
all reach the chat model under our organization's name. A part is a ``(kind, content)``
tuple, ``kind`` being ``"text"`` or ``"image"`` (an http(s) or data URL): tuples, not objects,
because a 40-turn conversation is walked on every request.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Part = tuple[str, str]

# content-part types that carry text, in Chat and Responses
_TEXT_TYPES = frozenset({"text", "input_text", "output_text"})
# string fields of a Responses input item that are text: function_call arguments,
# function_call_output output, custom tool input, reasoning summaries are left to the model
_ITEM_TEXT_FIELDS = ("arguments", "output", "input", "refusal")


def request_parts(endpoint: str, body: dict[str, Any]) -> list[Part]:
    """The parts of one request body to moderate, in order, empty texts left out."""
    parts: list[Part] = []
    if endpoint == "chat.completions":
        for message in body.get("messages") or ():
            if isinstance(message, dict):
                _chat_message(message, parts)
    elif endpoint == "responses":
        _text(body.get("instructions"), parts)
        value = body.get("input")
        if isinstance(value, str):
            _text(value, parts)
        elif isinstance(value, list):
            _items(value, parts)
    elif endpoint == "images.generations":
        _text(body.get("prompt"), parts)
    return parts


def _text(value: Any, parts: list[Part]) -> None:
    if isinstance(value, str) and value.strip():
        parts.append(("text", value))


def _image(url: Any, parts: list[Part]) -> None:
    if isinstance(url, dict):  # Chat: {"url": …, "detail": …}; Responses: a plain string
        url = url.get("url")
    if isinstance(url, str) and url:
        parts.append(("image", url))


def _chat_message(message: dict[str, Any], parts: list[Part]) -> None:
    content = message.get("content")
    if isinstance(content, str):
        _text(content, parts)
    elif isinstance(content, list):
        _content(content, parts)
    _text(message.get("refusal"), parts)
    for call in message.get("tool_calls") or ():
        if isinstance(call, dict):
            _text((call.get("function") or {}).get("arguments"), parts)
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        _text(legacy.get("arguments"), parts)


def _content(items: Iterable[Any], parts: list[Part]) -> None:
    for item in items:
        if isinstance(item, str):
            _text(item, parts)
            continue
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind in _TEXT_TYPES:
            _text(item.get("text"), parts)
        elif kind in ("image_url", "input_image"):
            _image(item.get("image_url"), parts)
        elif kind == "refusal":
            _text(item.get("refusal"), parts)


def _items(items: list[Any], parts: list[Part]) -> None:
    """Responses ``input`` items: messages (string or part list) and tool items."""
    for item in items:
        if not isinstance(item, dict):
            _text(item, parts)
            continue
        content = item.get("content")
        if isinstance(content, str):
            _text(content, parts)
        elif isinstance(content, list):
            _content(content, parts)
        for name in _ITEM_TEXT_FIELDS:
            value = item.get(name)
            if isinstance(value, list):  # function_call_output may be a list of parts
                _content(value, parts)
            else:
                _text(value, parts)
