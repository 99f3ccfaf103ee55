"""Hold-back windows and text extraction on their own, with a fake output check."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goodstanding.audit import AuditLog
from goodstanding.call import Call, Verdict
from goodstanding.endpoints import endpoint_of
from goodstanding.endpoints.chat import delta_text as chat_delta_text
from goodstanding.endpoints.chat import plain_content
from goodstanding.errors import ContentPolicyViolation
from goodstanding.pipeline import Pipeline
from goodstanding.stores.memory import MemoryStore
from goodstanding.stream.chat_scan import chat_units, whole_read
from goodstanding.stream.guard import guard_stream
from goodstanding.stream.reading import StreamState, inspect_marked


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    return orjson.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1,
                         "model": "m", "choices": [{"index": 0, "delta": delta,
                                                    "finish_reason": finish, **extra}]})  # fmt: skip


SHAPES = [
    chunk({"content": "plain words "}),
    chunk({"content": "quoted \"words\" and \\ slashes\n"}),
    chunk({"content": "ünïcödé ✓"}),
    chunk({"content": "x", "refusal": None}),
    chunk({"content": "last"}, "stop"),
    chunk({"content": "cut"}, "content_filter"),
    chunk({"content": "with logprobs"}, logprobs={"content": [{"token": "\"delta\":{"}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\":1}"}}]}),
    orjson.dumps({"choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": None},
                              {"index": 1, "delta": {"content": "b"}, "finish_reason": None}]}),
    b'{"choices": [{"index": 0, "delta": {"content": "spaced"}, "finish_reason": null}]}',
]


@pytest.mark.parametrize("data", SHAPES)
def test_the_substring_scan_agrees_with_the_parser_or_declines(data: bytes) -> None:
    fast = plain_content(data)
    call = Call("r", "POST", "/v1/chat/completions", "chat.completions", {}, "127.0.0.1")
    assert fast is None or fast == chat_delta_text(orjson.loads(data), call)


def test_the_whole_read_scan_agrees_with_the_parser() -> None:
    datas = [chunk({"role": "assistant", "content": ""}), *SHAPES,
             orjson.dumps({"choices": [{"index": 0, "delta": {"content": "usage too"},
                                        "finish_reason": None}], "usage": {"prompt_tokens": 3}})]  # fmt: skip
    block = b"".join(b"data: " + d + b"\n\n" for d in datas) + b"data: [DONE]\n\n"
    call = Call("r", "POST", "/v1/chat/completions", "chat.completions", {}, "127.0.0.1")
    units = list(chat_units(StreamState(call, need_text=True), block))
    assert b"".join(block[start:end] for start, end, _, _ in units) == block
    expected = [chat_delta_text(orjson.loads(d), call) for d in datas] + [""]
    assert [text for *_, text in units] == expected
    assert call.tokens_in == 3
    call.usage_injected = True
    usage = b'data: {"choices":[],"usage":{"prompt_tokens":4}}\n\n'
    kept, text = whole_read(StreamState(call, need_text=True), block + usage, 10_000)
    assert text == "".join(expected) and kept == block and call.tokens_in == 4
    # cut at event boundaries
    assert whole_read(StreamState(call, need_text=True), block, len(text)) is None


# events with no second "{" (the plain-event pattern can run across their end), a multi-line
# data event, a usage chunk the gateway strips, and the end of the stream
ODD = [b'{"id":"c","choices":[]}', b'{"id":"c","object":"chat.completion.chunk"}',
       b'{"id":"c",\ndata: "choices":[]}', b'{"choices":[],"usage":{"prompt_tokens":4}}',
       b"[DONE]"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([chunk({"content": "w "})] * 3 + SHAPES + ODD), max_size=12))
def test_the_fast_read_agrees_with_inspecting_each_event(datas: list[bytes]) -> None:
    """Whatever the mix, the fast paths pass on and read exactly what one-by-one would."""
    first = chunk({"role": "assistant", "content": ""})
    events = [b"data: " + d + b"\n\n" for d in [first, *datas]]
    call = Call("r", "POST", "/v1/chat/completions", "chat.completions", {}, "127.0.0.1")
    call.usage_injected = True
    careful = StreamState(call, need_text=True)
    judged = [careful.inspect(e) for e in events]
    kept = b"".join(e for e, (keep, _) in zip(events, judged, strict=True) if keep)
    text = "".join(t for _, t in judged)
    fast = whole_read(StreamState(call, need_text=True), b"".join(events), 10_000)
    assert fast is None or fast == (kept, text)
    units = list(chat_units(StreamState(call, need_text=True), b"".join(events)))
    assert b"".join(b"".join(events)[a:b] for a, b, keep, _ in units if keep) == kept
    assert "".join(t for *_, t in units) == text


RESPONSES = [(b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
             b'"delta":"response.completed \\"usage\\":{"}'),
             (b'event: response.completed\ndata: {"type":"response.completed","response":'
             b'{"usage":{"input_tokens":5,"output_tokens":7}}}'),
             b'event: response.created\ndata: {"type":"response.created","response":{}}']


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(SHAPES + ODD + RESPONSES), max_size=12), st.booleans())
def test_only_marked_events_are_inspected_and_the_rest_pass_untouched(
    datas: list[bytes], chat: bool
) -> None:
    """With no text wanted, inspecting the marked events drops and reads what one-by-one does."""
    events = [(d if d.startswith(b"event:") else b"data: " + d) + b"\n\n" for d in datas]
    endpoint, path = ("chat.completions", "chat") if chat else ("responses", "responses")
    call = Call("r", "POST", f"/v1/{path}", endpoint, {}, "127.0.0.1")
    call.usage_injected = True
    careful = StreamState(call)
    kept = b"".join(e for e in events if careful.inspect(e)[0])
    seen = (call.tokens_in, call.tokens_out)
    call.tokens_in = call.tokens_out = None
    usage_markers = endpoint_of(endpoint).stream.usage_markers  # type: ignore[union-attr]
    assert inspect_marked(StreamState(call), b"".join(events), usage_markers) == kept
    assert (call.tokens_in, call.tokens_out) == seen


class Judge:
    """An output check that refuses any window containing ``bad`` and records each window."""

    name = "fake_output"

    def __init__(self) -> None:
        self.windows: list[str] = []

    async def check_output(self, call: Call, text: str) -> Verdict:
        self.windows.append(text)
        if "bad" in text:
            error = ContentPolicyViolation("withheld")
            return Verdict(self.name, "refuse", ("output:x",), error)
        return Verdict(self.name)


def stream(words: list[str]) -> list[bytes]:
    events = [b"data: " + chunk({"role": "assistant", "content": ""}) + b"\n\n"]
    events += [b"data: " + chunk({"content": w}) + b"\n\n" for w in words]
    events.append(b"data: " + chunk({}, "stop") + b"\n\n")
    return [*events, b"data: [DONE]\n\n"]


async def relay(reads: list[bytes], window: int = 64,
                endpoint: str = "chat.completions") -> tuple[list[bytes], Judge]:  # fmt: skip
    judge = Judge()
    pipeline = Pipeline((), (judge,), (), None, AuditLog(MemoryStore()),  # type: ignore[arg-type]
                        window_chars=window, window_overlap=8)  # fmt: skip
    path = "/v1/responses" if endpoint == "responses" else "/v1/chat/completions"
    call = Call("r", "POST", path, endpoint, {}, "127.0.0.1", stream=True)

    async def upstream() -> AsyncIterator[bytes]:
        for read in reads:
            yield read

    out = [piece async for piece in pipeline.finish_stream(
        call, guard_stream(pipeline.stream_guard, call, upstream()))]
    return out, judge


def text_of(out: list[bytes]) -> str:
    texts = []
    for line in b"".join(out).split(b"\n\n"):
        if line.startswith(b"data: {"):
            for choice in orjson.loads(line[6:])["choices"]:
                texts.append(choice["delta"].get("content") or "")
    return "".join(texts)


async def test_a_stream_that_arrives_in_one_read_is_judged_in_one_window() -> None:
    words = [f"word{i} " for i in range(8)]  # 48 characters, under one window
    out, judge = await relay([b"".join(stream(words))])
    assert judge.windows == ["".join(words)] and text_of(out) == "".join(words)


async def test_a_read_longer_than_a_window_is_cut_at_event_boundaries() -> None:
    words = [f"word{i:02d} " for i in range(30)]  # 210 characters
    out, judge = await relay([b"".join(stream(words))])
    assert len(judge.windows) >= 3 and all(len(w) <= 64 + 8 + 8 for w in judge.windows)
    assert text_of(out) == "".join(words)


async def test_events_arriving_one_by_one_are_released_window_by_window() -> None:
    words = [f"word{i:02d} " for i in range(40)]  # 280 characters
    out, judge = await relay(stream(words))
    # 280 characters in windows of 64, each judged with the 8 held back from the last one
    assert len(judge.windows) == 5 and text_of(out) == "".join(words)
    assert len(out) > 3  # released as the windows pass, not all at the end


@pytest.mark.parametrize("before", range(56, 76))
async def test_a_phrase_cut_by_a_windows_edge_does_not_go_out_in_halves(before: int) -> None:
    """Whatever window edge falls inside "bad", none of it is released: text goes out only
    once judged with the `window_overlap` characters that follow it (or the stream's end)."""
    pieces = ["x"] * before + ["b", "a", "d"] + ["y"] * 40  # one character per event
    out, judge = await relay(stream(pieces))
    assert any("bad" in w for w in judge.windows)  # refused, and the stream ended there
    assert set(text_of(out)) <= {"x"} and b'"finish_reason":"content_filter"' in out[-1]


async def test_a_flag_ends_the_stream_at_the_last_released_window() -> None:
    words = [f"word{i:02d} " for i in range(20)] + ["bad "] + ["more "] * 10
    out, _ = await relay(stream(words))
    text = text_of(out)
    assert "bad" not in text and "".join(words).startswith(text) and text
    assert b'"finish_reason":"content_filter"' in out[-1] and out[-1].endswith(b"[DONE]\n\n")


async def test_the_final_partial_window_is_judged() -> None:
    words = [f"word{i:02d} " for i in range(9)] + ["bad"]
    out, judge = await relay(stream(words))
    assert "bad" not in text_of(out) and judge.windows[-1].endswith("bad")


# --- what a Responses tool call's actions carry ---------------------------------------------

ACTIONS = [
    {"type": "computer_call", "id": "cc", "call_id": "c1", "status": "completed",
     "action": {"type": "type", "text": "I will bad you"}},
    {"type": "computer_call", "id": "cc2", "call_id": "c2", "status": "completed",
     "actions": [{"type": "click", "x": 1, "y": 2}, {"type": "type", "text": "typed bad"}]},
    {"type": "local_shell_call", "id": "ls", "call_id": "c3", "status": "completed",
     "action": {"type": "exec", "command": ["echo", "bad"], "env": {}}},
    {"type": "web_search_call", "id": "ws", "status": "completed",
     "action": {"type": "search", "query": "how to bad"}},
    {"type": "apply_patch_call", "id": "ap", "call_id": "c4", "status": "completed",
     "operation": {"type": "update_file", "path": "a.txt", "diff": "+bad line"}},
]


@pytest.mark.parametrize("item", ACTIONS, ids=[a["type"] for a in ACTIONS])
def test_what_a_tool_calls_action_carries_is_answer_text(item: dict[str, Any]) -> None:
    """Typed text, shell commands, search queries and patches are the model's words too."""
    assert "bad" in endpoint_of("responses").answer_text({"output": [item]})


def responses_stream(item: dict[str, Any]) -> list[bytes]:
    def event(kind: str, **fields: Any) -> bytes:
        return (b"event: " + kind.encode() + b"\ndata: "
                + orjson.dumps({"type": kind, **fields}) + b"\n\n")

    done = {"id": "resp_1", "object": "response", "status": "completed", "output": [item],
            "usage": {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}}
    return [event("response.created", response={"id": "resp_1", "status": "in_progress"}),
            event("response.output_item.added", output_index=0, item={**item, "action": None}),
            event("response.output_item.done", output_index=0, item=item),
            event("response.completed", response=done)]


@pytest.mark.parametrize("item", ACTIONS, ids=[a["type"] for a in ACTIONS])
async def test_a_flagged_action_ends_a_responses_stream_before_it_goes_out(item) -> None:
    out, judge = await relay(responses_stream(item), endpoint="responses")
    assert any("bad" in w for w in judge.windows)
    released = b"".join(out)
    assert b"output_item.done" not in released and b"response.completed" not in released
    assert b"response.incomplete" in released
