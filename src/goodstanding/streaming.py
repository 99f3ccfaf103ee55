"""Server-sent-event streams on their way back to the client.

Events are passed on as they arrive; nothing buffers a whole answer. Three jobs happen here:

- usage for the audit record is read from the stream (Chat's ``include_usage`` chunk, which
  the gateway asks for when the client did not and then strips again; Responses' terminal
  ``response.completed`` / ``response.incomplete`` event);
- when output checks exist, text is held back in windows: events are released only after the
  window containing their text passed the checks. Each window is checked together with the
  tail of the previous one (``window_overlap``) so a phrase split across two windows is still
  seen. On a refusal the stream ends cleanly at the last released window with a
  ``content_filter`` finish chunk (Chat) or a ``response.incomplete`` event (Responses);
- ``stream_first`` mode releases first and checks after, cutting on a flag (weaker: the
  flagged window has already reached the client).

Closing this generator (client gone) closes the upstream stream, which cancels the request.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import orjson

from goodstanding.call import Call, Verdict
from goodstanding.errors import GatewayError, StoreUnavailable

_TERMINATORS = (b"\n\n", b"\r\n\r\n")
_RESPONSE_DONE = (b"response.completed", b"response.incomplete", b"response.failed")
# substrings that mark the event carrying usage: Chat's usage chunk, Responses' terminal event
_USAGE_MARKERS = {True: (b'"usage":{', b'"usage": {'), False: _RESPONSE_DONE}
FIRST_WINDOW = 64  # characters
_CONTENT_DELTA = b'"delta":{"content":"'
# the commonest Chat event as a whole: one ``data:`` line, one choice, a content delta without
# escapes, not finished, no nested object besides the choice (so no usage object); anything
# else is parsed the careful way
#
# It starts with a literal, so the engine skips ahead fast; ``[^{]*`` rather than ``[^\n{]*``
# before "choices" because a one-character negated class is twice as fast in ``re`` (8 vs 16 µs
# per 40-event read). So a match can start at an event with no second "{" and run into the
# next one; that is harmless: such an event has no choice and no usage object, so it carries no
# text and no signal and is passed on either way (tests/test_streaming.py checks the mixes).
_PLAIN_EVENT = re.compile(
    rb'(data: \{[^{]*"choices":\[\{"index":0,"delta":\{"content":"([^"\\\n]*)"\}'
    rb'(?:,"logprobs":null)?,"finish_reason":null\}\][^\n{]*\}\n\n)'
)
_TEXT_EVENTS = {
    "response.output_text.delta",
    "response.refusal.delta",
    "response.function_call_arguments.delta",
}


@dataclass(frozen=True, slots=True)
class StreamGuard:
    """What a stream needs of the pipeline: the output checks as one callable (None: there are
    none), the call's finishing, the 500 for a bug, and the window settings."""

    check_text: Callable[[Call, str], Awaitable[Verdict | None]] | None
    finish: Callable[[Call, GatewayError | None], Awaitable[None]]
    internal: Callable[[Call, BaseException], GatewayError]
    window_chars: int = 400
    window_overlap: int = 64
    stream_first: bool = False


async def sse_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Re-frame arbitrary byte chunks into whole SSE events (terminator included)."""
    buffer = b""
    async for chunk in chunks:
        buffer = buffer + chunk if buffer else chunk
        while True:
            cut, size = _next_terminator(buffer)
            if cut < 0:
                break
            yield buffer[: cut + size]
            buffer = buffer[cut + size :]
    if buffer.strip():
        yield buffer


def _next_terminator(buffer: bytes) -> tuple[int, int]:
    cut = buffer.find(b"\n\n")
    if cut >= 0:
        return cut, 2
    cut = buffer.find(b"\r\n\r\n")
    return (cut, 4) if cut >= 0 else (-1, 0)


def _data(event: bytes) -> bytes | None:
    """The payload of an event's ``data:`` line(s)."""
    if event.startswith(b"data: "):  # the usual shape: one data line, nothing else
        payload = event[6:].strip()
        if b"\n" not in payload:
            return payload
    start = event.find(b"data:")
    if start < 0:
        return None
    lines = [
        line[5:].strip() for line in event[start:].splitlines() if line.startswith(b"data:")
    ]
    return b"\n".join(lines)


class StreamState:
    """What we learn from one stream: usage, and the text of each event."""

    __slots__ = ("call", "chat", "meta", "output_tokens", "prompt_tokens", "strip_usage")

    def __init__(self, call: Call) -> None:
        self.call = call
        self.chat = call.endpoint == "chat.completions"
        self.strip_usage = bool(call.notes.get("injected_include_usage"))
        self.meta: dict[str, Any] = {}

    def inspect(self, event: bytes) -> tuple[bool, str]:
        """Return (pass the event on?, its answer text)."""
        if self.chat:
            return self._chat(event)
        return self._responses(event)

    def _chat(self, event: bytes) -> tuple[bool, str]:
        data = _data(event)
        if not data or data == b"[DONE]":
            return True, ""
        has_usage = b'"usage":{' in data or b'"usage": {' in data
        if not has_usage:
            if not self.call.notes.get("need_text"):
                return True, ""
            if self.meta:
                text = _plain_content(data)
                if text is not None:
                    return True, text
        chunk = orjson.loads(data)
        if not self.meta:
            self.meta = {k: chunk.get(k) for k in ("id", "created", "model", "object")}
        if has_usage and isinstance(chunk.get("usage"), dict):
            usage = chunk["usage"]
            self.call.tokens_in = usage.get("prompt_tokens")
            self.call.tokens_out = usage.get("completion_tokens")
            if self.strip_usage and not chunk.get("choices"):
                return False, ""
        return True, _chat_delta_text(chunk, self.call)

    def _responses(self, event: bytes) -> tuple[bool, str]:
        if any(name in event[:64] for name in _RESPONSE_DONE):
            data = _data(event)
            response = (orjson.loads(data) if data else {}).get("response") or {}
            usage = response.get("usage") or {}
            if (response.get("incomplete_details") or {}).get("reason") == "content_filter":
                self.call.notes["upstream_signal"] = "content_filter"
            self.call.tokens_in = usage.get("input_tokens")
            self.call.tokens_out = usage.get("output_tokens")
            return True, ""
        if not self.call.notes.get("need_text") or b".delta" not in event[:80]:
            return True, ""
        data = _data(event)
        payload = orjson.loads(data) if data else {}
        if payload.get("type") in _TEXT_EVENTS:
            if payload["type"] == "response.refusal.delta":
                self.call.notes["upstream_signal"] = "refusal"
            self.meta.setdefault("item_id", payload.get("item_id"))
            return True, payload.get("delta") or ""
        return True, ""


def _plain_content(data: bytes) -> str | None:
    """The text of the commonest chunk (one choice, a content delta only, not finished)
    found by a substring scan; None when not sure, and the chunk is parsed instead."""
    start = data.find(_CONTENT_DELTA)
    if start < 0 or data.find(b'"delta":', start + 8) >= 0:  # several choices
        return None
    start += len(_CONTENT_DELTA)
    end = data.find(b'"}', start)
    if end < 0 or data.find(b'"finish_reason":null', end) < 0:
        return None
    raw = data[start:end]
    if b"\\" in raw or b'"' in raw:  # escapes to decode, or more fields in the delta
        return None
    return raw.decode()


def _chat_delta_text(chunk: dict[str, Any], call: Call) -> str:
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


def content_filter_end(call: Call, meta: dict[str, Any]) -> bytes:
    """The clean ending of a stream cut by an output check (SPEC §3)."""
    if call.endpoint == "chat.completions":
        chunk = {
            "id": meta.get("id") or f"chatcmpl-{call.request_id}",
            "object": "chat.completion.chunk",
            "created": meta.get("created") or int(time.time()),
            "model": meta.get("model") or call.model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "content_filter"}],
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\ndata: [DONE]\n\n"
    response = {
        "id": meta.get("response_id") or f"resp_{call.request_id}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "incomplete",
        "incomplete_details": {"reason": "content_filter"},
        "model": call.model,
        "output": [],
    }
    event = {"type": "response.incomplete", "response": response, "sequence_number": 0}
    return b"event: response.incomplete\ndata: " + orjson.dumps(event) + b"\n\n"


async def guard_stream(
    guard: StreamGuard, call: Call, upstream: AsyncIterator[bytes]
) -> AsyncIterator[bytes]:
    """The client-side stream: usage accounting, and hold-back windows when checks exist.

    The call is finished (its audit record durable: journaled or committed) before the
    stream's terminal event (``[DONE]``, ``response.completed``…) is sent: a client that saw
    its stream end has a record. If the record cannot be made durable, an error event takes
    the terminal event's place.
    """
    state = StreamState(call)
    error: GatewayError | None = None
    finished = False
    try:
        async with aclosing(upstream):
            if guard.check_text is None:
                events = _relay(state, upstream)
            else:
                call.notes["need_text"] = True
                events = _windowed(guard, call, state, upstream)
            async with aclosing(events):
                async for out in events:
                    if _ends_stream(out, state.chat):
                        finished = True
                        try:
                            await guard.finish(call, None)
                        except StoreUnavailable as exc:
                            yield error_event(call, exc)
                            return
                    yield out
    except GatewayError as exc:
        error = exc
        raise
    except Exception as exc:  # noqa: BLE001 - a bug or unreadable event: logged, a 500
        error = guard.internal(call, exc)
        raise error from None
    finally:
        if not finished:
            await _finish_unended(guard, call, error)


def _ends_stream(out: bytes, chat: bool) -> bool:
    """Whether ``out`` (whole events) ends with the stream's terminal event."""
    if chat:
        return out.endswith((b"[DONE]\n\n", b"[DONE]\r\n\r\n"))
    cut = out.rfind(b"\n\n", 0, len(out) - 2)
    start = cut + 2 if cut >= 0 else 0  # the last event's start
    head = out[start : start + 64]
    return any(name in head for name in _RESPONSE_DONE)


async def _finish_unended(guard: StreamGuard, call: Call, error: GatewayError | None) -> None:
    """Finish a stream that ended without its terminal event (cut, refused, client gone)."""
    try:
        await guard.finish(call, error)
    except StoreUnavailable:
        pass  # logged by the audit log; the stream already ended without its terminal event


def error_event(call: Call, error: GatewayError) -> bytes:
    """An error in the stream, as OpenAI sends one (the SDKs raise it)."""
    return _error_frame(call, error.body()["error"])


def stream_error(call: Call, message: str, code: str) -> bytes:
    """An error told inside a stream that already started (the SDKs raise it as APIError)."""
    return _error_frame(call, {"message": message, "type": "server_error", "param": None,
                               "code": code})


def _error_frame(call: Call, error: dict[str, Any]) -> bytes:
    if call.endpoint == "responses":
        event = {"type": "error", "code": error["code"], "message": error["message"],
                 "param": None, "sequence_number": 0}
        return b"event: error\ndata: " + orjson.dumps(event) + b"\n\n"
    return b"data: " + orjson.dumps({"error": error}) + b"\n\n"


async def _relay(state: StreamState, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """No output checks: pass whole events on per upstream read, looking only for usage.

    One ``rfind`` and one substring test per read; in the rare read that carries usage (the
    end of a stream) only the events around a usage marker are inspected.
    """
    buffer = b""
    for_usage = _USAGE_MARKERS[state.chat]
    async for chunk in chunks:
        buffer = buffer + chunk if buffer else chunk
        cut = buffer.rfind(b"\n\n")
        if cut < 0:
            continue
        complete, buffer = buffer[: cut + 2], buffer[cut + 2 :]
        if any(marker in complete for marker in for_usage):
            complete = _inspect_marked(state, complete, for_usage)
        if complete:
            yield complete
    if buffer.strip():
        yield buffer


def _inspect_marked(state: StreamState, block: bytes, markers: tuple[bytes, ...]) -> bytes:
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


async def _windowed(
    guard: StreamGuard, call: Call, state: StreamState, chunks: AsyncIterator[bytes]
) -> AsyncIterator[bytes]:
    """Hold text back until its window passed; work per upstream read, not per event.

    A read's events are released together. A window is checked once its text reaches the
    window's size (the first one smaller), at the end of a read, so the text that arrived
    together is judged together; a read that brings more than a whole window is cut at event
    boundaries. The final partial window is checked at the end of the stream.
    """
    try:
        if guard.stream_first:
            async for out in _stream_first(guard, call, state, sse_events(chunks)):
                yield out
            return
        window = _Window(guard.window_chars, guard.window_overlap)
        size = window.size
        buffer = b""
        async for chunk in chunks:
            buffer = buffer + chunk if buffer else chunk
            if state.chat and b"\r" not in buffer:  # Chat's usual framing: a whole read at a time
                cut = buffer.rfind(b"\n\n")
                if cut < 0:
                    continue
                block, buffer = buffer[: cut + 2], buffer[cut + 2 :]
                whole = _whole_read(state, block, size - len(window.text))
                if whole is not None:  # the common case: the read's text fits in the window
                    kept, text = whole
                    if kept:
                        window.events.append(kept)
                    window.text += text
                    block = b""
                run = 0  # where the bytes of ``block`` not yet held in the window start
                for start, end, keep, text in _chat_units(state, block):
                    if not keep:
                        if start > run:
                            window.events.append(block[run:start])
                        run = end
                        continue
                    if text:
                        window.text += text
                        if len(window.text) >= size:  # a long read: windows stay bounded
                            window.events.append(block[run:end])
                            run = end
                            await _judge(guard, call, window)
                            yield from_pending(window)
                            window.advance()
                if run < len(block):
                    window.events.append(block[run:] if run else block)
                events = ()
            else:
                events, buffer = _whole_events(buffer)
            for event in events:
                keep, text = state.inspect(event)
                if not keep:
                    continue
                window.events.append(event)
                if text:
                    window.text += text
                    if len(window.text) >= size:  # a long read: windows stay bounded
                        await _judge(guard, call, window)
                        yield from_pending(window)
                        window.advance()
            if window.text:
                if not window.full():
                    continue
                await _judge(guard, call, window)
                window.advance()
            if window.events:
                yield from_pending(window)
        if buffer.strip():
            keep, text = state.inspect(buffer)
            if keep:
                window.add(buffer, text)
        if window.text:
            await _judge(guard, call, window)
        if window.events:
            yield from_pending(window)
    except _Withheld:  # a window failed: end cleanly at the last released one
        yield content_filter_end(call, state.meta)


def _whole_read(state: StreamState, block: bytes, room: int) -> tuple[bytes, str] | None:
    """The bytes to pass on and the text of a read of whole Chat events, when its text is
    shorter than ``room`` (else None: the read is cut at event boundaries, ``_chat_units``).

    One ``split`` by the plain-event pattern (in C) gives gaps, plain events and their texts;
    only the events in the (few) non-empty gaps are inspected one by one. When those pass on
    whole and carry no text (the usual case), the read is passed on as it came and its text is
    one join: no Python work per plain event.
    """
    pieces = _PLAIN_EVENT.split(block)  # gap, event, text, gap, event, text, …, gap
    if len(pieces) == 1:
        return None  # nothing plain
    plain = pieces[2::3]
    if sum(map(len, plain)) >= room:
        return None  # too long
    gaps = pieces[0::3]
    if (gaps[0] and not gaps[0].endswith(b"\n\n")) or not all(
        gap.endswith(b"\n\n") for gap in gaps[1:-1] if gap
    ):
        return None  # a match that is not at an event's start: be careful
    if not gaps[0] and not state.meta:
        return None  # the stream's first chunk (id, model…) must be parsed: the careful way
    busy: dict[int, list[tuple[int, int, bool, str]]] = {}
    for i, gap in enumerate(gaps):
        if gap:
            busy[i] = list(_inspected(state, gap, 0, len(gap)))
            if not state.meta:
                return None
    if not any(text for units in busy.values() for _, _, _, text in units):
        text = b"".join(plain).decode()
        if len(text) >= room:
            return None
        out = _without_dropped(block, gaps, busy)
        if out is not None:
            return out, text
    kept: list[bytes] = []
    texts: list[bytes] = []
    for i, gap in enumerate(gaps):
        for start, end, keep, text in busy.get(i, ()):
            if keep:
                kept.append(gap[start:end])
            if text:
                texts.append(text.encode())
        if i < len(gaps) - 1:
            kept.append(pieces[3 * i + 1])
            texts.append(plain[i])
    text = b"".join(texts).decode()
    if len(text) >= room:
        return None  # the events inspected again the careful way: what they set is the same
    return b"".join(kept), text


def _without_dropped(
    block: bytes, gaps: list[bytes], busy: dict[int, list[tuple[int, int, bool, str]]]
) -> bytes | None:
    """``block`` less the gap events not passed on (the injected usage chunk), when those are
    in the first or the last gap (whose offsets are known without summing); else None."""
    last = len(gaps) - 1
    out = block
    for i in sorted(busy, reverse=True):  # from the end, so earlier offsets stay valid
        drops = [(start, end) for start, end, keep, _ in busy[i] if not keep]
        if not drops:
            continue
        if i not in (0, last):
            return None
        base = 0 if i == 0 else len(block) - len(gaps[last])
        for start, end in reversed(drops):
            out = out[: base + start] + out[base + end :]
    return out


def _chat_units(state: StreamState, block: bytes) -> Iterator[tuple[int, int, bool, str]]:
    """(start, end, pass on?, text) of each event of a block of whole Chat events.

    Plain content events are found by one regular-expression scan of the block; the events
    between them, and the first event of a stream (its id, model… are kept), are inspected.
    """
    pos = 0
    for match in _PLAIN_EVENT.finditer(block):
        start, end = match.span()
        if start and block[start - 2 : start] != b"\n\n":  # not an event's start: be careful
            yield from _inspected(state, block, pos, len(block))
            return
        if start > pos:
            yield from _inspected(state, block, pos, start)
        if state.meta:
            yield start, end, True, match.group(2).decode()
        else:
            yield (start, end, *state.inspect(block[start:end]))
        pos = end
    if pos < len(block):
        yield from _inspected(state, block, pos, len(block))


def _inspected(
    state: StreamState, block: bytes, pos: int, stop: int
) -> Iterator[tuple[int, int, bool, str]]:
    while pos < stop:
        cut = block.find(b"\n\n", pos, stop)
        end = stop if cut < 0 else cut + 2
        yield (pos, end, *state.inspect(block[pos:end]))
        pos = end


def _whole_events(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The whole events at the start of ``buffer`` (terminators kept), and the rest."""
    events: list[bytes] = []
    while True:
        cut, size = _next_terminator(buffer)
        if cut < 0:
            return events, buffer
        events.append(buffer[: cut + size])
        buffer = buffer[cut + size :]


async def _stream_first(
    guard: StreamGuard, call: Call, state: StreamState, events: AsyncIterator[bytes]
) -> AsyncIterator[bytes]:
    """Release first, check after, cut on a flag (weaker: the flagged window is out)."""
    window = _Window(guard.window_chars, guard.window_overlap)
    async for event in events:
        keep, text = state.inspect(event)
        if not keep:
            continue
        if not text and window.text:
            # released text is checked before the stream moves past it: the finish chunk or
            # terminal event must not reach the client ahead of the verdict on the last window
            await _judge(guard, call, window)
            window.advance()
        yield event
        window.add(None, text)
        if not window.full():
            continue
        await _judge(guard, call, window)
        window.advance()
    if window.text:
        await _judge(guard, call, window)


def from_pending(window: _Window) -> bytes:
    out = b"".join(window.events)
    window.events.clear()
    return out


class _Withheld(Exception):
    """A window failed the output checks: the stream ends at the last released window."""


async def _judge(guard: StreamGuard, call: Call, window: _Window) -> None:
    """Check a window (with the tail of the last one); raise ``_Withheld`` on a refusal."""
    assert guard.check_text is not None
    verdict = await guard.check_text(call, window.tail + window.text)
    if verdict is not None and verdict.refused:
        call.decision = "output_withheld"
        raise _Withheld


class _Window:
    """Events waiting for their text to pass, plus the tail of the last checked window.

    The first window is a quarter of the others (at least ``FIRST_WINDOW``): the reader's
    time to first token is the time to generate it plus one moderation round trip.
    """

    __slots__ = ("events", "limit", "overlap", "size", "tail", "text")

    def __init__(self, size: int, overlap: int) -> None:
        self.size, self.overlap = size, overlap
        self.limit = min(size, max(FIRST_WINDOW, size // 4))
        self.events: list[bytes] = []
        self.text = ""
        self.tail = ""

    def add(self, event: bytes | None, text: str) -> None:
        if event is not None:
            self.events.append(event)
        self.text += text

    def full(self) -> bool:
        return len(self.text) >= self.limit

    def advance(self) -> None:
        self.limit = self.size
        self.tail = self.text[-self.overlap :] if self.overlap else ""
        self.text = ""
