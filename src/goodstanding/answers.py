"""Reading answer text out of OpenAI's response shapes, and withholding it.

Tool-call arguments and refusals count as output text: a model can be talked into putting
violating text there as easily as into ``content``.
"""

from __future__ import annotations

from typing import Any


def answer_text(endpoint: str, document: dict[str, Any]) -> str:
    if endpoint == "chat.completions":
        return "\n".join(_chat_texts(document))
    if endpoint == "responses":
        return "\n".join(_response_texts(document))
    return ""


def _chat_texts(document: dict[str, Any]) -> list[str]:
    texts: list[str] = []
    for choice in document.get("choices") or ():
        message = choice.get("message") or {}
        for field in ("content", "refusal"):
            if isinstance(message.get(field), str):
                texts.append(message[field])
        for call in message.get("tool_calls") or ():
            arguments = (call.get("function") or {}).get("arguments")
            if isinstance(arguments, str):
                texts.append(arguments)
    return texts


def _response_texts(document: dict[str, Any]) -> list[str]:
    texts: list[str] = []
    for item in document.get("output") or ():
        if isinstance(item.get("arguments"), str):
            texts.append(item["arguments"])
        for part in item.get("content") or ():
            for field in ("text", "refusal"):
                if isinstance(part.get(field), str):
                    texts.append(part[field])
    return texts


def withhold(endpoint: str, document: dict[str, Any]) -> dict[str, Any]:
    """Remove the answer the way OpenAI does when its own filter trips (SPEC §3)."""
    if endpoint == "chat.completions":
        for choice in document.get("choices") or ():
            choice["message"] = {"role": "assistant", "content": None, "refusal": None}
            choice["finish_reason"] = "content_filter"
    elif endpoint == "responses":
        document["status"] = "incomplete"
        document["incomplete_details"] = {"reason": "content_filter"}
        document["output"] = []
        document.pop("output_text", None)
    return document
