"""Distillation / bulk extraction: one end user sending near-duplicate templated prompts.

What OpenAI reads as distillation is "systematic collection of JSON responses, repetitive query
patterns, mass generation of synthetic data". Per end user (of a tenant), over a window:

- **low diversity**: each prompt (the newest user text, first ``MAX_WORDS`` words) is
  reduced to a bottom-k sketch of its word-pair shingles (the ``K`` smallest 32-bit hashes, a
  MinHash variant). A prompt whose estimated Jaccard similarity to one of the end user's last
  ``RING`` prompts is at least ``similarity`` counts as a near-duplicate: a template with only
  its slots changing. Hashes only: no text is kept.
- **structured-output harvesting**: ``response_format`` JSON / ``text.format``, ``n > 1`` or a
  high ``temperature`` (sweeps), counted as a share of the window's requests.

Levels: ``suspected`` once the window holds ``min_requests`` or more and the near-duplicate
share is at least ``duplicate_share``; ``likely`` when, on top of that, the structured share is
at least ``structured_share`` or the volume reaches ``likely_requests``. A normal chat user,
however busy, writes different things: their near-duplicate share stays near zero, and short
messages ("thanks", "go on", fewer than ``MIN_WORDS`` words) are neither duplicates nor counted.

State is per process, bounded: at most ``max_end_users`` end users (least recently seen are
forgotten), each a few hundred bytes (``RING`` sketches of ``K`` 32-bit values).
"""

from __future__ import annotations

import math
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from goodstanding import metrics
from goodstanding.endpoints import endpoint_of
from goodstanding.ops.signals import Kind, register
from goodstanding.settings import parse_duration

if TYPE_CHECKING:
    from goodstanding.settings import DistillationSettings

K = 8  # hashes per sketch
RING = 4  # recent sketches compared per end user
MAX_CHARS = 2000
MAX_WORDS = 64  # a template shows in its first sentences; the cost stays flat for long prompts
MIN_WORDS = 4
_MASK = 0xFFFFFFFF

SIGNALS = metrics.counter(
    "goodstanding_distillation_total",
    "Requests from end users whose traffic looks like bulk extraction (distillation), by level "
    "and the action taken.", ("level", "action"))

register(Kind("distillation", "bulk extraction (distillation) patterns", "count", 50.0, 0.7,
              advice="review the end users flagged: templated prompts harvesting structured "
                     "answers at volume; throttle or ban them"), from_reasons=True)


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


@dataclass(frozen=True, slots=True)
class Finding:
    level: str  # "suspected" | "likely"
    requests: int
    duplicate_share: float
    structured_share: float


class _User:
    __slots__ = ("duplicates", "ring", "since", "structured", "throttle_at", "total")

    def __init__(self, now: float) -> None:
        self.ring: list[bytes] = []
        self.since = now
        self.total = self.duplicates = self.structured = 0
        self.throttle_at = 0.0  # the next moment a throttled end user may send


class Distillation:
    """Keeps each end user's recent sketches and window counts; judges one call at a time."""

    def __init__(self, settings: DistillationSettings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.window = parse_duration(settings.window)
        self.clock = clock
        self.users: OrderedDict[str, _User] = OrderedDict()

    def observe(self, who: str, text: str | None, structured: bool) -> Finding | None:
        now = self.clock()
        users = self.users
        user = users.get(who)
        if user is None:
            if len(users) >= self.settings.max_end_users:
                users.popitem(last=False)
            user = users[who] = _User(now)
        else:
            users.move_to_end(who)
            if now - user.since >= self.window:
                user.since, user.total, user.duplicates, user.structured = now, 0, 0, 0
        current = sketch(text) if text else None
        if current is None:
            return self._judge(user)  # too short to judge: not counted
        user.total += 1
        user.structured += structured
        threshold = self.settings.similarity
        mine = set(current)
        for packed in user.ring:
            if similarity(mine, array("I", packed)) >= threshold:
                user.duplicates += 1
                break
        user.ring.append(array("I", current).tobytes())
        if len(user.ring) > RING:
            del user.ring[0]
        return self._judge(user)

    def _judge(self, user: _User) -> Finding | None:
        s = self.settings
        if user.total < s.min_requests:
            return None
        duplicates = user.duplicates / user.total
        if duplicates < s.duplicate_share:
            return None
        structured = user.structured / user.total
        likely = structured >= s.structured_share or user.total >= s.likely_requests
        return Finding("likely" if likely else "suspected", user.total, round(duplicates, 3),
                       round(structured, 3))

    def throttle(self, who: str) -> float:
        """For a throttled end user: 0 when this call may go, else the seconds to wait."""
        user = self.users.get(who)
        if user is None:
            return 0.0
        now = self.clock()
        if now >= user.throttle_at:
            user.throttle_at = now + 60.0 / self.settings.throttle_rpm
            return 0.0
        return user.throttle_at - now


def prompt_and_shape(endpoint: str, body: dict[str, Any]) -> tuple[str | None, bool]:
    """The newest user text of a generation call, and whether it harvests structured output."""
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
