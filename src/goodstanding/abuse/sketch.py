"""What the distillation detector reads off a request: the prompt's sketch and its shape.

- ``sketch``: the newest user text (first ``MAX_WORDS`` words) reduced to a bottom-k sketch of
  its word-pair shingles (the ``K`` smallest 32-bit hashes, a MinHash variant). Two prompts
  whose sketches share at least ``similarity`` of their hashes are near-duplicates: a
  template with only its slots changing. Hashes only: no text is kept.
- ``prompt_and_shape``: that newest user text, and whether the call harvests structured
  output (``response_format`` JSON / ``text.format``, ``n > 1``, a high ``temperature``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from itertools import pairwise
from typing import Any

from goodstanding.endpoints import endpoint_of

K = 8  # hashes per sketch
MAX_CHARS = 2000
MAX_WORDS = 64  # a template shows in its first sentences; the cost stays flat for long prompts
MIN_WORDS = 4  # "thanks", "go on": too short to judge, and not counted
_MASK = 0xFFFFFFFF


def sketch(text: str) -> tuple[int, ...] | None:
    """The bottom-k sketch of a text's word-pair shingles; None for a text too short to judge."""
    words = text[:MAX_CHARS].lower().split()[:MAX_WORDS]
    if len(words) < MIN_WORDS:
        return None
    hashes = {hash(pair) & _MASK for pair in pairwise(words)}
    return tuple(sorted(hashes)[:K])


def similarity(a: tuple[int, ...] | set[int], b: Iterable[int]) -> float:
    """Estimated Jaccard similarity of two bottom-k sketches: the share of hashes they share
    (a little below the union estimator, and a set intersection in C)."""
    return len((a if isinstance(a, set) else set(a)).intersection(b)) / K


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
    n = body.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n > 1:
        return True
    temperature = body.get("temperature")
    return isinstance(temperature, int | float) and not isinstance(temperature, bool) and \
        temperature >= 1.3 and math.isfinite(temperature)
