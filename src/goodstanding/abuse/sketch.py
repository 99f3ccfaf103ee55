"""What the distillation detector reads off a request: the prompt's sketch and its shape.

- ``sketch``: the newest user text (first ``MAX_WORDS`` words) reduced to a bottom-k sketch of
  its word-pair shingles (the ``K`` smallest hashes, a MinHash variant), kept as a ``BITS``-bit
  mask with one bit per hash. Two prompts whose masks share at least ``similarity`` × ``K``
  bits are near-duplicates: a template with only its slots changing. Hashes only: no text is
  kept. A mask is one int, so comparing a prompt with a scope's recent ones is a few integer
  operations (``distillation.py``), not set arithmetic.
- ``prompt_and_shape``: that newest user text, and whether the call harvests structured
  output (``response_format`` JSON / ``text.format``, ``n > 1``, a high ``temperature``).
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any

from goodstanding.endpoints import endpoint_of
from goodstanding.endpoints.base import choices_asked

K = 8  # hashes per sketch
BITS = 256  # bits per mask: two of the K hashes share a bit in about one sketch in ten
MAX_CHARS = 1000
# a template shows in its first sentences; hashing the word pairs is most of a sketch's cost
# (about 10 µs for 32 words here, 20 for 64), so it stays flat for long prompts
MAX_WORDS = 32
MIN_WORDS = 4  # "thanks", "go on": too short to judge, and not counted


def sketch(text: str) -> int | None:
    """The bottom-k sketch of a text's word-pair shingles as a ``BITS``-bit mask; None for a
    text too short to judge."""
    words = text[:MAX_CHARS].lower().split(None, MAX_WORDS)[:MAX_WORDS]
    if len(words) < MIN_WORDS:
        return None
    mask = 0
    for value in sorted(set(map(hash, pairwise(words))))[:K]:
        mask |= 1 << (value % BITS)
    return mask


def similarity(a: int, b: int) -> float:
    """Estimated Jaccard similarity of two sketches: the share of the ``K`` hashes they share
    (a little below the union estimator; a bit two hashes share by chance counts once)."""
    return (a & b).bit_count() / K


def prompt_and_shape(endpoint: str, body: dict[str, Any]) -> tuple[str | None, bool]:
    """The newest user text of a generation call (its endpoint knows where that is), and
    whether it harvests structured output."""
    return endpoint_of(endpoint).latest_prompt(body), _structured(body)


def _structured(body: dict[str, Any]) -> bool:
    shape = body.get("response_format")
    if isinstance(shape, dict) and shape.get("type") in ("json_object", "json_schema"):
        return True
    text = body.get("text")
    if isinstance(text, dict) and isinstance(text.get("format"), dict) and \
            text["format"].get("type") in ("json_object", "json_schema"):
        return True
    if choices_asked(body) > 1:
        return True
    temperature = body.get("temperature")
    return isinstance(temperature, int | float) and not isinstance(temperature, bool) and \
        temperature >= 1.3 and math.isfinite(temperature)
