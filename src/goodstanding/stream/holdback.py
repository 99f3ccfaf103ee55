"""Windowed hold-back: answer text is released only after the window holding it passed.

Each window is checked together with the tail of the previous one (``window_overlap``) so a
phrase split across two windows is still seen, and that tail is held back with the next window
until it passes too: no text is released before it was judged together with the
``window_overlap`` characters that follow it (or with the end of the stream), so the first half
of a phrase cut by a window's edge does not go out ahead of the verdict on the whole. (At event
granularity: a window whose last ``window_overlap`` characters arrived in one event with all
the rest is released whole, as before.) On a refusal the stream ends cleanly at the last
released window with the endpoint's content-filter ending (``StreamShape``). ``stream_first`` releases first and
checks after, cutting on a flag (weaker: the flagged window has already reached the client).

The checks are one callable (``StreamGuard.check_text``): this module never sees the pipeline.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass

from goodstanding.call import Call, Verdict
from goodstanding.stream.chat_scan import chat_units, whole_read
from goodstanding.stream.reading import StreamState
from goodstanding.stream.sse import sse_events, whole_events

FIRST_WINDOW = 64  # characters


@dataclass(frozen=True, slots=True)
class StreamGuard:
    """What a stream needs of the pipeline: the output checks as one callable (None: there are
    none; the first non-pass verdict, or None) and the window settings."""

    check_text: Callable[[Call, str], Awaitable[Verdict | None]] | None
    window_chars: int = 400
    window_overlap: int = 64
    stream_first: bool = False


async def windowed(
    guard: StreamGuard, call: Call, state: StreamState, chunks: AsyncIterator[bytes]
) -> AsyncIterator[bytes]:
    """Hold text back until its window passed; work per upstream read, not per event.

    A read's events are released together. A window is checked once its text reaches the
    window's size (the first one smaller), at the end of a read, so the text that arrived
    together is judged together; a read that brings more than a whole window is cut at event
    boundaries. The final partial window is checked at the end of the stream. Several choices
    (``n`` > 1) are held to the end and judged choice by choice (``_several_choices``).
    """
    async with aclosing(chunks):  # closing this generator cancels the upstream request
        try:
            if state.choices is not None:
                async for out in _several_choices(guard, call, state, sse_events(chunks)):
                    yield out
                return
            if guard.stream_first:
                async for out in _stream_first(guard, call, state, sse_events(chunks)):
                    yield out
                return
            window = _Window(guard.window_chars, guard.window_overlap)
            size = window.size
            buffer = b""
            async for chunk in chunks:
                buffer = buffer + chunk if buffer else chunk
                # Chat's usual framing: a whole read at a time
                if state.plain_scan and b"\r" not in buffer:
                    cut = buffer.rfind(b"\n\n")
                    if cut < 0:
                        continue
                    block, buffer = buffer[: cut + 2], buffer[cut + 2 :]
                    whole = whole_read(state, block, size - len(window.text))
                    if whole is not None:  # the common case: the read's text fits in the window
                        kept, text = whole
                        window.hold(kept, text)
                        block = b""
                    run = 0  # where the bytes of ``block`` not yet held in the window start
                    for start, end, keep, text in chat_units(state, block):
                        if not keep:
                            if start > run:
                                window.hold(block[run:start], "")
                            run = end
                            continue
                        if text:
                            window.text += text
                            if len(window.text) >= size:  # a long read: windows stay bounded
                                window.hold(block[run:end], "")
                                run = end
                                await _judge(guard, call, window)
                                yield window.passed()
                    if run < len(block):
                        window.hold(block[run:] if run else block, "")
                    events: Sequence[bytes] = ()
                else:
                    events, buffer = whole_events(buffer)
                for event in events:
                    keep, text = state.inspect(event)
                    if not keep:
                        continue
                    window.hold(event, text)
                    if len(window.text) >= size:  # a long read: windows stay bounded
                        await _judge(guard, call, window)
                        yield window.passed()
                if window.text:
                    if not window.full():
                        continue
                    await _judge(guard, call, window)
                    yield window.passed()
                elif window.events:  # no text waits for a verdict: pass the events on
                    yield window.release()
            if buffer.strip():
                keep, text = state.inspect(buffer)
                if keep:
                    window.hold(buffer, text)
            if window.text:
                await _judge(guard, call, window)
            if window.events:
                yield window.release()
        except _Withheld:  # a window failed: end cleanly at the last released one
            yield state.shape.content_filter_end(call, state.meta)


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
        window.text += text
        if not window.full():
            continue
        await _judge(guard, call, window)
        window.advance()
    if window.text:
        await _judge(guard, call, window)


async def _several_choices(
    guard: StreamGuard, call: Call, state: StreamState, events: AsyncIterator[bytes]
) -> AsyncIterator[bytes]:
    """Several choices (``n`` > 1) stream their pieces in turns: read as one text, a phrase of
    one choice would be scattered among another's words and pass. The events are held to the
    end and each choice's whole text is judged, one choice per line, as a whole answer is."""
    held: list[bytes] = []
    async for event in events:
        keep, _ = state.inspect(event)
        if keep:
            held.append(event)
    choices = state.choices or {}
    text = "\n".join("".join(choices[i]) for i in sorted(choices))
    if text.strip():
        await _judge_text(guard, call, text)
    yield b"".join(held)


class _Withheld(Exception):
    """A window failed the output checks: the stream ends at the last released window."""


async def _judge(guard: StreamGuard, call: Call, window: _Window) -> None:
    """Check a window (with the tail of the last one); raise ``_Withheld`` on a refusal."""
    await _judge_text(guard, call, window.tail + window.text)


async def _judge_text(guard: StreamGuard, call: Call, text: str) -> None:
    assert guard.check_text is not None
    verdict = await guard.check_text(call, text)
    if verdict is not None and verdict.refused:
        call.decision = "output_withheld"
        raise _Withheld


class _Window:
    """Events waiting for their text to pass, plus the tail of the last checked window.

    The first window is a quarter of the others (at least ``FIRST_WINDOW``): the reader's
    time to first token is the time to generate it plus one moderation round trip.
    ``ends[i]`` is where the text of ``events[i]`` ends in ``text``: what ``passed`` needs to
    hold the last ``overlap`` characters back.
    """

    __slots__ = ("ends", "events", "limit", "overlap", "size", "tail", "text")

    def __init__(self, size: int, overlap: int) -> None:
        self.size, self.overlap = size, overlap
        self.limit = min(size, max(FIRST_WINDOW, size // 4))
        self.events: list[bytes] = []
        self.ends: list[int] = []
        self.text = ""
        self.tail = ""

    def hold(self, event: bytes, text: str) -> None:
        """Hold an event whose text (if any, not yet in ``text``) is ``text``."""
        if text:
            self.text += text
        if event:
            self.events.append(event)
            self.ends.append(len(self.text))

    def full(self) -> bool:
        return len(self.text) >= self.limit

    def release(self) -> bytes:
        """The held events, as one piece to pass on (the window no longer holds them)."""
        out = b"".join(self.events)
        self.events.clear()
        self.ends.clear()
        return out

    def passed(self) -> bytes:
        """The window passed: release its events but those holding its last ``overlap``
        characters, which stay in the window, to be judged again with what follows them."""
        text, ends, overlap = self.text, self.ends, self.overlap
        k = bisect_right(ends, len(text) - overlap) if overlap else len(ends)
        if k == 0 or k == len(ends):  # no event boundary to hold back at: release them all
            self.advance()
            return self.release()
        self.limit = self.size
        cut = ends[k - 1]
        out = b"".join(self.events[:k])
        del self.events[:k]
        self.ends = [end - cut for end in ends[k:]]
        self.tail, self.text = text[max(0, cut - overlap):cut], text[cut:]
        return out

    def advance(self) -> None:
        """The window was judged: the next one starts, with this one's tail as context."""
        self.limit = self.size
        self.tail = self.text[-self.overlap :] if self.overlap else ""
        self.text = ""
