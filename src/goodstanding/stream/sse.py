"""Server-sent-event framing: whole events out of arbitrary reads, and an event's data.

Nothing here knows what an event means; ``reading.py`` does. An event is kept with its
terminator (``\\n\\n``, or ``\\r\\n\\r\\n`` from some servers) so it can be passed on as it came.
"""

from __future__ import annotations

from collections.abc import AsyncIterator


async def sse_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Re-frame arbitrary byte chunks into whole SSE events (terminator included)."""
    buffer = b""
    async for chunk in chunks:
        buffer = buffer + chunk if buffer else chunk
        while True:
            cut, size = next_terminator(buffer)
            if cut < 0:
                break
            yield buffer[: cut + size]
            buffer = buffer[cut + size :]
    if buffer.strip():
        yield buffer


def next_terminator(buffer: bytes) -> tuple[int, int]:
    """Where the first event of ``buffer`` ends, and its terminator's size ((-1, 0): none)."""
    cut = buffer.find(b"\n\n")
    if cut >= 0:
        return cut, 2
    cut = buffer.find(b"\r\n\r\n")
    return (cut, 4) if cut >= 0 else (-1, 0)


def whole_events(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The whole events at the start of ``buffer`` (terminators kept), and the rest."""
    events: list[bytes] = []
    while True:
        cut, size = next_terminator(buffer)
        if cut < 0:
            return events, buffer
        events.append(buffer[: cut + size])
        buffer = buffer[cut + size :]


def data(event: bytes) -> bytes | None:
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


def last_event_head(out: bytes, size: int = 64) -> bytes:
    """The first ``size`` bytes of the last event in ``out`` (whole events)."""
    cut = out.rfind(b"\n\n", 0, len(out) - 2)
    start = cut + 2 if cut >= 0 else 0
    return out[start : start + size]
