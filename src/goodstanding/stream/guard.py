"""The client-side stream: usage accounting always, hold-back windows when checks exist.

``guard_stream`` returns the events to pass on; it does not finish the call: the pipeline
does (``Pipeline.run``), at the terminal event or wherever the stream ends. Closing the
returned generator (client gone) closes the upstream stream, which cancels the request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

from goodstanding.call import Call
from goodstanding.stream.holdback import StreamGuard, windowed
from goodstanding.stream.reading import StreamState, inspect_marked


def guard_stream(
    guard: StreamGuard, call: Call, upstream: AsyncIterator[bytes]
) -> AsyncIterator[bytes]:
    """The events of ``upstream`` to pass on, whole; held back in windows when checks exist."""
    if guard.check_text is None:
        return _relay(StreamState(call), upstream)
    return windowed(guard, call, StreamState(call, need_text=True), upstream)


async def _relay(state: StreamState, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """No output checks: pass whole events on per upstream read, looking only for usage.

    One ``rfind`` and one substring test per read; in the rare read that carries usage (the
    end of a stream) only the events around a usage marker are inspected.
    """
    async with aclosing(chunks):
        buffer = b""
        for_usage = state.shape.usage_markers
        async for chunk in chunks:
            buffer = buffer + chunk if buffer else chunk
            cut = buffer.rfind(b"\n\n")
            if cut < 0:
                continue
            complete, buffer = buffer[: cut + 2], buffer[cut + 2 :]
            if any(marker in complete for marker in for_usage):
                complete = inspect_marked(state, complete, for_usage)
            if complete:
                yield complete
        if buffer.strip():
            yield buffer
