"""`POST /v1/chat/completions`, streamed and not, in OpenAI's exact shapes."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any

import orjson

from . import directives, faults, tools
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


MAX_CHOICES = 128  # OpenAI's bound for ``n``


async def handle(req: Request, sim: SimulatedUpstream) -> Reply | StreamReply:
    body = require_object(req.body, "model", "messages")
    n = 1 if body.get("n") is None else body["n"]
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_CHOICES:
        raise BadRequest(f"Invalid 'n': expected an integer from 1 to {MAX_CHOICES}.", param="n")
    texts, newest, result = _read(body["messages"])
    gen = plan(body, texts, newest, ("max_completion_tokens", "max_tokens"))
    if result is not None and gen.directives.say is None:
        gen = dataclasses.replace(gen, text=tools.result_text(result), truncated=False)
    tool = None if gen.fault in faults.ANSWER_FAULTS else (
        tools.choose(body, newest, result is not None)
        or tools.choose_legacy(body, newest, result is not None))
    error = faults.error_reply(gen.fault, gen.model, sim.window, sim.once)
    if error is not None:
        return error
    await faults.delay(gen.fault)
    headers = sim.window.take(gen.prompt_tokens + gen.completion_tokens * n)
    cid = new_id("chatcmpl-")
    if gen.fault in ("disconnect", "truncate"):
        return _disconnect(gen, cid, body, sim, headers)
    # n choices; a tool call (one choice's decision, from the prompt) stays one choice, and
    # so does a spoken answer
    spoken = tool is None and _spoken(body)
    answers = _answers(gen, n) if tool is None and not spoken else None
    if body.get("stream"):
        delay = chunk_delay(gen, sim.config.chunk_delay)
        return StreamReply(paced(_chunks(gen, cid, body, tool, answers, spoken), delay),
                           headers)
    whole = _completion(gen, cid, tool, answers, spoken)
    if body.get("logprobs") is True:
        _add_logprobs(whole)
    return Reply(200, whole, headers)


def _add_logprobs(document: dict[str, Any]) -> None:
    """``logprobs: true``: each choice's content, token by token (a word a token here)."""
    for choice in document["choices"]:
        content = choice["message"].get("content")
        if isinstance(content, str):
            choice["logprobs"] = {"content": [
                {"token": piece, "logprob": -0.01, "bytes": list(piece.encode()),
                 "top_logprobs": []} for piece in directives.pieces(content)],
                "refusal": None}


def _spoken(body: dict[str, Any]) -> bool:
    """``modalities: ["text", "audio"]``: the answer is audio with its transcript and no
    ``content``, as OpenAI's audio models answer."""
    modalities = body.get("modalities")
    return isinstance(modalities, list) and "audio" in modalities


def _audio(cid: str, gen: Generation, transcript: str) -> dict[str, Any]:
    return {"id": "audio_" + cid.removeprefix("chatcmpl-"),
            "data": base64.b64encode(transcript.encode()).decode(),  # stands in for speech
            "expires_at": gen.created + 3600, "transcript": transcript}


def _answers(gen: Generation, n: int) -> list[str] | None:
    """Each choice's text when there are several (choice i says the i-th ``say``); None for
    one choice (``gen``'s own answer)."""
    if n == 1:
        return None
    says = gen.directives.says
    if not says:
        return [gen.text] * n
    return [says[min(i, len(says) - 1)] for i in range(n)]


def _read(messages: Any) -> tuple[list[str], str, Any]:
    """Every message text (for the prompt token count), the newest user text, and the tool
    result that ends the conversation (None when it does not end with one)."""
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
    last = messages[-1] if messages else {}
    result = (last.get("content") or "") if last.get("role") == "tool" else None
    return texts, newest, result


def _outcome(gen: Generation) -> tuple[str | None, str | None, str]:
    """(content, refusal, finish_reason) after the answer-changing faults."""
    if gen.fault == "content_filter":
        return None, None, "content_filter"
    if gen.fault == "refusal":
        return None, faults.REFUSAL, "stop"
    return gen.text, None, "length" if gen.truncated else "stop"


def _usage(gen: Generation, text: str | None) -> dict[str, Any]:
    if gen.fault == "bad_usage":
        return {"prompt_tokens": "12", "completion_tokens": 2**40, "total_tokens": 1e308}
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


def _tool_call(tool: tools.ToolCall) -> dict[str, Any]:
    return {"id": tool.call_id, "type": "function",
            "function": {"name": tool.name, "arguments": tool.arguments}}  # fmt: skip


def _completion(gen: Generation, cid: str, tool: tools.ToolCall | None = None,
                answers: list[str] | None = None,
                spoken: bool = False) -> dict[str, Any]:
    content, refusal, finish = _outcome(gen)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": content,
        "refusal": refusal,
        "annotations": [],
    }
    if spoken and content is not None:
        message.update(content=None, audio=_audio(cid, gen, content))
    if tool is not None:
        content, finish = tool.arguments, "tool_calls"  # content: for the usage count
        message.update(content=None, tool_calls=[_tool_call(tool)])
        if tool.legacy:
            finish = "function_call"
            message.pop("tool_calls")
            message["function_call"] = {"name": tool.name, "arguments": tool.arguments}
    choices = [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}]
    counted = content or refusal or ""
    if answers is not None and content is not None:  # several choices, none filtered
        choices = [{"index": i, "message": {**message, "content": text}, "logprobs": None,
                    "finish_reason": finish} for i, text in enumerate(answers)]
        counted = "".join(answers)
    elif answers is not None:  # a filter or a refusal: every choice the same
        choices = [{**choices[0], "index": i} for i in range(len(answers))]
        counted *= len(answers)
    return {
        "id": cid,
        "object": "chat.completion",
        "created": gen.created,
        "model": gen.model,
        "choices": choices,
        "usage": _usage(gen, counted),
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }


def _chunks(
    gen: Generation, cid: str, body: dict[str, Any], tool: tools.ToolCall | None = None,
    answers: list[str] | None = None, spoken: bool = False,
) -> Iterator[bytes]:
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

    def chunk(delta: dict[str, Any], finish: str | None = None, index: int = 0) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return sse({**base, "choices": [choice]})

    content, refusal, finish = _outcome(gen)
    if answers is not None and content is not None:
        yield from _interleaved(chunk, answers, finish)
        if include_usage:
            yield sse({**base, "choices": [], "usage": _usage(gen, "".join(answers))})
        yield SSE_DONE
        return
    if spoken and content is not None:
        audio = _audio(cid, gen, content)
        yield chunk({"role": "assistant", "content": None, "refusal": None})
        for piece in directives.pieces(content):
            yield chunk({"audio": {"id": audio["id"], "transcript": piece}})
        yield chunk({"audio": {"id": audio["id"], "data": audio["data"],
                               "expires_at": audio["expires_at"]}})
    elif tool is not None:
        content, finish = tool.arguments, "function_call" if tool.legacy else "tool_calls"
        yield from _tool_chunks(chunk, tool)
    else:
        yield chunk({"role": "assistant", "content": "", "refusal": None})
        key = "refusal" if refusal is not None else "content"
        for piece in directives.pieces(content or refusal or ""):
            yield chunk({key: piece})
    yield chunk({}, finish)
    if include_usage:
        yield sse({**base, "choices": [], "usage": _usage(gen, content or refusal)})
    yield SSE_DONE


def _interleaved(chunk: Any, answers: list[str], finish: str) -> Iterator[bytes]:
    """Several choices as OpenAI streams them: each choice's chunks carry its index, and the
    choices' pieces take turns (a gateway must not read them as one text)."""
    for i in range(len(answers)):
        yield chunk({"role": "assistant", "content": "", "refusal": None}, index=i)
    pieces = [directives.pieces(text) for text in answers]
    for at in range(max(map(len, pieces), default=0)):
        for i, mine in enumerate(pieces):
            if at < len(mine):
                yield chunk({"content": mine[at]}, index=i)
    for i in range(len(answers)):
        yield chunk({}, finish, index=i)


def _tool_chunks(chunk: Any, tool: tools.ToolCall) -> Iterator[bytes]:
    """OpenAI's shape: id and name first with empty arguments, then argument deltas."""
    if tool.legacy:
        yield chunk({"role": "assistant", "content": None, "refusal": None,
                     "function_call": {"name": tool.name, "arguments": ""}})
        for piece in tool.argument_pieces():
            yield chunk({"function_call": {"arguments": piece}})
        return
    first = {"index": 0, "id": tool.call_id, "type": "function",
             "function": {"name": tool.name, "arguments": ""}}  # fmt: skip
    yield chunk({"role": "assistant", "content": None, "tool_calls": [first], "refusal": None})
    for piece in tool.argument_pieces():
        yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})


def _disconnect(
    gen: Generation, cid: str, body: dict[str, Any], sim: SimulatedUpstream, headers: dict[str, str]
) -> StreamReply:
    """Send the start of the answer, then cut the connection (``truncate``: end the stream
    cleanly there, without its final event)."""
    if body.get("stream"):
        chunks = _chunks(gen, cid, body)
        if gen.fault == "truncate":
            events = paced(islice(chunks, faults.DISCONNECT_AFTER), sim.config.chunk_delay)
        else:
            events = paced(chunks, sim.config.chunk_delay, faults.DISCONNECT_AFTER)
    else:
        whole = orjson.dumps(_completion(gen, cid))
        events = paced([whole[: len(whole) // 2], b""], 0, 1)
    return StreamReply(events, headers)
