"""Hold-back's fast path for Chat: a whole read of plain content events at C speed.

Most of a Chat stream is one shape of event (one choice, a content delta without escapes, not
finished). Finding those with one regular expression over a whole read, and inspecting only the
events between them, keeps the per-event Python work off the hot path; every function here
agrees with inspecting each event one by one (tests/test_streaming.py checks the mixes).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from goodstanding.stream.reading import StreamState

# the commonest Chat event as a whole: one ``data:`` line, one choice, a content delta without
# escapes, not finished, no nested object besides the choice (so no usage object); anything
# else is parsed the careful way
#
# It starts with a literal, so the engine skips ahead fast; ``[^{]*`` rather than ``[^\n{]*``
# before "choices" because a one-character negated class is twice as fast in ``re`` (8 vs 16 µs
# per 40-event read). So a match can start at an event with no second "{" and run into the
# next one; that is harmless: such an event has no choice and no usage object, so it carries no
# text and no signal and is passed on either way.
_PLAIN_EVENT = re.compile(
    rb'(data: \{[^{]*"choices":\[\{"index":0,"delta":\{"content":"([^"\\\n]*)"\}'
    rb'(?:,"logprobs":null)?,"finish_reason":null\}\][^\n{]*\}\n\n)'
)

Unit = tuple[int, int, bool, str]  # (start, end, pass on?, text) of one event of a block


def whole_read(state: StreamState, block: bytes, room: int) -> tuple[bytes, str] | None:
    """The bytes to pass on and the text of a read of whole Chat events, when its text is
    shorter than ``room`` (else None: the read is cut at event boundaries, ``chat_units``).

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
    busy: dict[int, list[Unit]] = {}
    for i, gap in enumerate(gaps):
        if gap:
            busy[i] = list(inspected(state, gap, 0, len(gap)))
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


def _without_dropped(block: bytes, gaps: list[bytes], busy: dict[int, list[Unit]]) -> bytes | None:
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


def chat_units(state: StreamState, block: bytes) -> Iterator[Unit]:
    """(start, end, pass on?, text) of each event of a block of whole Chat events.

    Plain content events are found by one regular-expression scan of the block; the events
    between them, and the first event of a stream (its id, model… are kept), are inspected.
    """
    pos = 0
    for match in _PLAIN_EVENT.finditer(block):
        start, end = match.span()
        if start and block[start - 2 : start] != b"\n\n":  # not an event's start: be careful
            yield from inspected(state, block, pos, len(block))
            return
        if start > pos:
            yield from inspected(state, block, pos, start)
        if state.meta:
            yield start, end, True, match.group(2).decode()
        else:
            yield (start, end, *state.inspect(block[start:end]))
        pos = end
    if pos < len(block):
        yield from inspected(state, block, pos, len(block))


def inspected(state: StreamState, block: bytes, pos: int, stop: int) -> Iterator[Unit]:
    """The events of ``block[pos:stop]`` inspected one by one."""
    while pos < stop:
        cut = block.find(b"\n\n", pos, stop)
        end = stop if cut < 0 else cut + 2
        yield (pos, end, *state.inspect(block[pos:end]))
        pos = end
