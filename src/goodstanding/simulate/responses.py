"""`POST /v1/responses`, streamed (typed events) and not, in OpenAI's exact shapes."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any

import orjson

from . import directives, faults, tools
from .generation import Generation, chunk_delay, new_id, paced, part_texts, plan, require_object
from .http import BadRequest, Reply, Request, StreamReply, sse

if TYPE_CHECKING:
    from .app import SimulatedUpstream

_TEXT_PARTS = ("input_text", "output_text", "text")


async def handle(req: Request, sim: SimulatedUpstream) -> Reply | StreamReply:
    body = require_object(req.body, "model")
    texts, newest, result = _read(body)
    gen = plan(body, texts, newest, ("max_output_tokens",))
    if result is not None and gen.directives.say is None:
        gen = dataclasses.replace(gen, text=tools.result_text(result), truncated=False)
    error = faults.error_reply(gen.fault, gen.model, sim.window, sim.once)
    if error is not None:
        return error
    await faults.delay(gen.fault)
    headers = sim.window.take(gen.prompt_tokens + gen.completion_tokens)
    tool = None if gen.fault in faults.ANSWER_FAULTS else tools.choose(
        body, newest, result is not None)
    answer = _Answer(gen, body, tool)
    if gen.fault in ("disconnect", "truncate"):
        return _disconnect(answer, body, sim, headers)
    if body.get("stream"):
        delay = chunk_delay(gen, sim.config.chunk_delay)
        return StreamReply(paced(_events(answer), delay), headers)
    return Reply(200, answer.response(answer.final_status, answer.final_item()), headers)


def _read(body: dict[str, Any]) -> tuple[list[str], str, Any]:
    """Every input text (for the prompt token count), the newest user text, and the tool
    result that ends the input (None when it does not end with one)."""
    texts = [body["instructions"]] if isinstance(body.get("instructions"), str) else []
    items = body.get("input")
    if isinstance(items, str):
        return texts + [items], items, None
    if items is not None and not isinstance(items, list):
        raise BadRequest("'input' must be a string or an array.", param="input")
    newest = ""
    for item in items or []:
        if not isinstance(item, dict):
            raise BadRequest("Each input item must be an object.", param="input")
        parts = part_texts(item.get("content"), _TEXT_PARTS)
        if isinstance(item.get("output"), str):  # tool outputs count as prompt too
            parts.append(item["output"])
        texts.extend(parts)
        if item.get("role") == "user":
            newest = "\n".join(parts)
    last = items[-1] if items else {}
    result = last.get("output", "") if last.get("type") == "function_call_output" else None
    return texts, newest, result


class _Answer:
    """One response's ids and text, and the objects that describe it at each stage."""

    def __init__(self, gen: Generation, body: dict[str, Any],
                 tool: tools.ToolCall | None = None) -> None:
        self.gen, self.body, self.tool = gen, body, tool
        self.rid = new_id("resp_")
        self.mid = new_id("fc_" if tool else "msg_")
        self.refused = gen.fault == "refusal"
        self.filtered = gen.fault == "content_filter"
        self.text = faults.REFUSAL if self.refused else "" if self.filtered else gen.text
        if tool is not None:
            self.text = tool.arguments  # what the usage counts
        self.incomplete = tool is None and (self.filtered or gen.truncated)
        self.final_status = "incomplete" if self.incomplete else "completed"
        # ``[[summary:TEXT]]``: a reasoning item (its summary: text the model wrote) first
        self.summary = gen.directives.summary if tool is None else None
        self.rsid = new_id("rs_")

    def reasoning_item(self, parts: list[dict[str, Any]]) -> dict[str, Any]:
        return {"id": self.rsid, "type": "reasoning", "summary": parts}

    def output(self, item: dict[str, Any] | None) -> list[dict[str, Any]]:
        if item is None:
            return []
        if self.summary is None:
            return [item]
        return [self.reasoning_item([{"type": "summary_text", "text": self.summary}]), item]

    def part(self, text: str) -> dict[str, Any]:
        if self.refused:
            return {"type": "refusal", "refusal": text}
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}

    def item(self, status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
        return {"id": self.mid, "type": "message", "status": status, "role": "assistant",
                "content": content}  # fmt: skip

    def call_item(self, status: str, arguments: str) -> dict[str, Any]:
        assert self.tool is not None
        return {"id": self.mid, "type": "function_call", "status": status,
                "arguments": arguments, "call_id": self.tool.call_id, "name": self.tool.name}

    def final_item(self) -> dict[str, Any]:
        if self.tool is not None:
            return self.call_item("completed", self.tool.arguments)
        content = [] if self.filtered else [self.part(self.text)]
        return self.item(self.final_status, content)

    def usage(self) -> dict[str, Any]:
        out = directives.tokens(self.text)
        return {
            "input_tokens": self.gen.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": out,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": self.gen.prompt_tokens + out,
        }

    def response(self, status: str, item: dict[str, Any] | None) -> dict[str, Any]:
        done = status in ("completed", "incomplete")
        reason = "content_filter" if self.filtered else "max_output_tokens"
        b = self.body
        return {
            "id": self.rid, "object": "response", "created_at": self.gen.created,
            "status": status, "background": False, "error": None,
            "incomplete_details": {"reason": reason} if status == "incomplete" else None,
            "instructions": b.get("instructions"), "max_output_tokens": b.get("max_output_tokens"),
            "model": self.gen.model, "output": self.output(item),
            "parallel_tool_calls": True, "previous_response_id": b.get("previous_response_id"),
            "reasoning": {"effort": None, "summary": None},
            "safety_identifier": b.get("safety_identifier"), "service_tier": "default",
            "store": b.get("store", True), "temperature": 1.0,
            "text": {"format": {"type": "text"}}, "tool_choice": b.get("tool_choice", "auto"),
            "tools": b.get("tools") or [],
            "top_p": 1.0, "truncation": "disabled", "usage": self.usage() if done else None,
            "user": None, "metadata": b.get("metadata") or {},
        }  # fmt: skip


def _events(a: _Answer) -> Iterator[bytes]:
    """The typed event sequence, numbered by `sequence_number` the way OpenAI numbers it."""
    seq = iter(range(1 << 30))

    def event(kind: str, **fields: Any) -> bytes:
        return sse({"type": kind, "sequence_number": next(seq), **fields}, event=kind)

    at = 0 if a.summary is None else 1  # the message's place in ``output``
    where = {"item_id": a.mid, "output_index": at, "content_index": 0}
    yield event("response.created", response=a.response("in_progress", None))
    yield event("response.in_progress", response=a.response("in_progress", None))
    if a.tool is not None:
        yield from _call_events(a, event)
        return
    if a.summary is not None:
        yield from _summary_events(a, event)
    yield event("response.output_item.added", output_index=at, item=a.item("in_progress", []))
    if not a.filtered:
        yield event("response.content_part.added", **where, part=a.part(""))
        yield from _deltas(a, event, where)
        yield event("response.content_part.done", **where, part=a.part(a.text))
    yield event("response.output_item.done", output_index=at, item=a.final_item())
    kind = "response.incomplete" if a.incomplete else "response.completed"
    yield event(kind, response=a.response(a.final_status, a.final_item()))


def _summary_events(a: _Answer, event: Any) -> Iterator[bytes]:
    """A reasoning item whose summary streams as text deltas, before the message."""
    assert a.summary is not None
    part = {"type": "summary_text", "text": a.summary}
    where = {"item_id": a.rsid, "output_index": 0, "summary_index": 0}
    yield event("response.output_item.added", output_index=0, item=a.reasoning_item([]))
    yield event("response.reasoning_summary_part.added", **where,
                part={"type": "summary_text", "text": ""})
    for piece in directives.pieces(a.summary):
        yield event("response.reasoning_summary_text.delta", **where, delta=piece)
    yield event("response.reasoning_summary_text.done", **where, text=a.summary)
    yield event("response.reasoning_summary_part.done", **where, part=part)
    yield event("response.output_item.done", output_index=0, item=a.reasoning_item([part]))


def _call_events(a: _Answer, event: Any) -> Iterator[bytes]:
    """A function call: the item, argument deltas, the whole arguments, the item done."""
    assert a.tool is not None
    yield event("response.output_item.added", output_index=0, item=a.call_item("in_progress", ""))
    where = {"item_id": a.mid, "output_index": 0}
    for piece in a.tool.argument_pieces():
        yield event("response.function_call_arguments.delta", **where, delta=piece)
    yield event("response.function_call_arguments.done", **where, name=a.tool.name,
                arguments=a.tool.arguments)  # fmt: skip
    yield event("response.output_item.done", output_index=0, item=a.final_item())
    yield event("response.completed", response=a.response("completed", a.final_item()))


def _deltas(a: _Answer, event: Any, where: dict[str, Any]) -> Iterator[bytes]:
    if a.refused:
        for piece in directives.pieces(a.text):
            yield event("response.refusal.delta", **where, delta=piece)
        yield event("response.refusal.done", **where, refusal=a.text)
        return
    for piece in directives.pieces(a.text):
        yield event("response.output_text.delta", **where, delta=piece, logprobs=[])
    yield event("response.output_text.done", **where, text=a.text, logprobs=[])


def _disconnect(
    a: _Answer, body: dict[str, Any], sim: SimulatedUpstream, headers: dict[str, str]
) -> StreamReply:
    """Send the start of the answer, then cut the connection (``truncate``: end the stream
    cleanly there, without its final event)."""
    if body.get("stream"):
        # created, in_progress, item added, part added, then a few deltas
        cut = 4 + faults.DISCONNECT_AFTER
        if a.gen.fault == "truncate":
            events = paced(islice(_events(a), cut), sim.config.chunk_delay)
        else:
            events = paced(_events(a), sim.config.chunk_delay, cut)
    else:
        whole = orjson.dumps(a.response(a.final_status, a.final_item()))
        events = paced([whole[: len(whole) // 2], b""], 0, 1)
    return StreamReply(events, headers)
