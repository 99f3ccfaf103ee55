"""`POST /v1/chat/completions`, streamed and not, in OpenAI's exact shapes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson

from . import directives, faults
from .generation import (
    FINGERPRINT,
    Generation,
    chunk_delay,
    new_id,
    paced,
    part_texts,
    plan,
    require_object,
)
from .http import SSE_DONE, BadRequest, Reply, Request, StreamReply, sse

if TYPE_CHECKING:
    from .app import SimulatedUpstream

_TEXT_PARTS = ("text",)


async def handle(req: Request, sim: SimulatedUpstream) -> Reply | StreamReply:
    body = require_object(req.body, "model", "messages")
    gen = plan(body, *_read(body["messages"]), ("max_completion_tokens", "max_tokens"))
    error = faults.error_reply(gen.fault, gen.model, sim.window)
    if error is not None:
        return error
    await faults.delay(gen.fault)
    headers = sim.window.take(gen.prompt_tokens + gen.completion_tokens)
    cid = new_id("chatcmpl-")
    if gen.fault == "disconnect":
        return _disconnect(gen, cid, body, sim, headers)
    if body.get("stream"):
        delay = chunk_delay(gen, sim.config.chunk_delay)
        return StreamReply(paced(_chunks(gen, cid, body), delay), headers)
    return Reply(200, _completion(gen, cid), headers)


def _read(messages: Any) -> tuple[list[str], str]:
    """Every message text (for the prompt token count) and the newest user text."""
    if not isinstance(messages, list):
        raise BadRequest("'messages' must be an array.", param="messages")
    texts: list[str] = []
    newest = ""
    for m in messages:
        if not isinstance(m, dict):
            raise BadRequest("Each message must be an object.", param="messages")
        parts = part_texts(m.get("content"), _TEXT_PARTS)
        texts.extend(parts)
        if m.get("role") == "user":
            newest = "\n".join(parts)
    return texts, newest


def _outcome(gen: Generation) -> tuple[str | None, str | None, str]:
    """(content, refusal, finish_reason) after the answer-changing faults."""
    if gen.fault == "content_filter":
        return None, None, "content_filter"
    if gen.fault == "refusal":
        return None, faults.REFUSAL, "stop"
    return gen.text, None, "length" if gen.truncated else "stop"


def _usage(gen: Generation, text: str | None) -> dict[str, Any]:
    completion = directives.tokens(text or "")
    return {
        "prompt_tokens": gen.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": gen.prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _completion(gen: Generation, cid: str) -> dict[str, Any]:
    content, refusal, finish = _outcome(gen)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": content,
        "refusal": refusal,
        "annotations": [],
    }
    return {
        "id": cid,
        "object": "chat.completion",
        "created": gen.created,
        "model": gen.model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": _usage(gen, content or refusal),
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }


def _chunks(gen: Generation, cid: str, body: dict[str, Any]) -> Iterator[bytes]:
    options = body.get("stream_options") or {}
    include_usage = bool(options.get("include_usage"))
    base = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": gen.created,
        "model": gen.model,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }
    if include_usage:
        base["usage"] = None  # OpenAI sends null on every chunk but the last
    if options.get("include_obfuscation", True):
        base["obfuscation"] = "sim"

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return sse({**base, "choices": [choice]})

    content, refusal, finish = _outcome(gen)
    yield chunk({"role": "assistant", "content": "", "refusal": None})
    key = "refusal" if refusal is not None else "content"
    for piece in directives.pieces(content or refusal or ""):
        yield chunk({key: piece})
    yield chunk({}, finish)
    if include_usage:
        yield sse({**base, "choices": [], "usage": _usage(gen, content or refusal)})
    yield SSE_DONE


def _disconnect(
    gen: Generation, cid: str, body: dict[str, Any], sim: SimulatedUpstream, headers: dict[str, str]
) -> StreamReply:
    """Send the start of the answer, then cut the connection."""
    if body.get("stream"):
        events = paced(_chunks(gen, cid, body), sim.config.chunk_delay, faults.DISCONNECT_AFTER)
    else:
        whole = orjson.dumps(_completion(gen, cid))
        events = paced([whole[: len(whole) // 2], b""], 0, 1)
    return StreamReply(events, headers)
