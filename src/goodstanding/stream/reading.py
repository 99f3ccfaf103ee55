"""What the events of one stream say: the usage for the audit record, and the answer text.

How an event is read is the endpoint's (``Endpoint.stream``, e.g. Chat's ``include_usage``
chunk, which the gateway asks for when the client did not and then strips again, or Responses'
terminal ``response.completed`` event); this module holds what one stream learnt. Text is read
only when output checks want it.
"""

from __future__ import annotations

from typing import Any

from goodstanding.call import Call
from goodstanding.endpoints import stream_shape
from goodstanding.endpoints.base import choices_asked


class StreamState:
    """What we learn from one stream: usage, and the text of each event."""

    __slots__ = ("call", "choices", "meta", "need_text", "plain_scan", "read", "shape",
                 "strip_usage")

    def __init__(self, call: Call, need_text: bool = False) -> None:
        self.call = call
        self.shape = shape = stream_shape(call.api)
        self.read = shape.read_event
        self.strip_usage = call.usage_injected
        self.need_text = need_text  # output checks read the text: else only usage is looked for
        self.meta: dict[str, Any] = {}  # the stream's id, model…: for a content-filter ending
        # several choices (Chat's ``n``) stream their pieces in turns: their texts are kept
        # apart, choice by choice (index -> pieces), and judged whole (``holdback.py``)
        self.choices: dict[int, list[str]] | None = \
            {} if need_text and choices_asked(call.body) > 1 else None
        # Chat: whole reads are scanned (chat_scan.py), one choice's content at a time
        self.plain_scan = shape.plain_scan and self.choices is None

    def inspect(self, event: bytes) -> tuple[bool, str]:
        """Return (pass the event on?, its answer text)."""
        return self.read(self, event)


def inspect_marked(state: StreamState, block: bytes, markers: tuple[bytes, ...]) -> bytes:
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
