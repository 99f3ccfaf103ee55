"""Text that crosses a boundary between two texts, judged the way the model reads it: whole.

Judged text by text, "I will kill" and "you tomorrow" are each harmless; sent as two messages
(or two content parts) the model still reads one threat. A message's own texts are already
one input (``parts.py`` joins them with ``SEP``); what is left are the boundaries between
messages and between the other fields the model reads. Each boundary gets a window: up to
``REACH`` characters before it and after it, taken across as many texts as it takes (one word
per message is still one window), the texts separated by ``SEP``. Any phrase that crosses a
boundary with at most ``REACH`` characters on either side of it lies whole inside a window;
a longer one is judged in part.

Cost: a window is cached by its own text like any other input, so a resent history costs
nothing again and a new chat turn adds about two windows (≤ 2·REACH + 1 characters each).
Windows that overlap are merged, up to ``SPAN`` characters, so many small texts cost about
twice their length instead of a window each. Each text is still judged alone too: a long
message is not diluted by its neighbours, and a flag says which side of a boundary it came
from.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

# between the texts of one message and between messages: a line break keeps the words of two
# texts apart (glued, "kill"+"you" reads "killyou", which word-based classifiers miss) and is
# how the model reads consecutive turns. A split inside a word is not rejoined.
SEP = "\n"
REACH = 128  # characters each side of a boundary: a sentence, with a little context
SPAN = 4 * REACH  # the longest merged window


def spans(texts: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """The texts joined with ``SEP``, and each window's ``[low, high)`` offsets in it.

    Run on every request over its whole history (the cache decides what is new), so it is
    kept to one pass of arithmetic: about 1 µs a boundary.
    """
    stream = SEP.join(texts)
    found: list[tuple[int, int]] = []
    start = end = -1  # the open window
    boundary = -1
    for text in texts[:-1]:
        boundary += len(text) + 1  # the separator after ``text``
        low = boundary - REACH if boundary > REACH else 0
        high = boundary + 1 + REACH  # past the end of the stream is the end
        if low <= end and high - start <= SPAN:  # overlaps the open one and stays short
            end = high
            continue
        if end >= 0:
            found.append((start, end))
        start, end = low, high
    if end >= 0:
        found.append((start, end))
    return stream, found


def windows(texts: Sequence[str]) -> list[str]:
    """The windows across the boundaries between ``texts``."""
    if len(texts) < 2:
        return []
    stream, found = spans(texts)
    return [stream[low:high] for low, high in found]


def spanned(texts: Sequence[str]) -> list[tuple[int, int, str]]:
    """``(first, last, window)``: each window with the indices of the texts it spans."""
    if len(texts) < 2:
        return []
    stream, found = spans(texts)
    ends = list(accumulate(len(text) + 1 for text in texts))  # each text's end, its SEP too
    last = len(texts) - 1
    return [(bisect_right(ends, low), min(last, bisect_right(ends, high - 1)), stream[low:high])
            for low, high in found]
