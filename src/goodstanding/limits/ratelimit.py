"""Rate and token limits: what a limit is, what an admission says, and the window arithmetic.

The algorithm is a **sliding window of sub-buckets**. A window of ``period`` seconds is cut
into ``BUCKETS`` buckets of ``period / BUCKETS`` seconds; an admission at time ``t`` sums the
bucket holding ``t`` and the ``BUCKETS`` buckets before it, which together cover at least the
interval ``(t - period, t]``. So the amount admitted in *any* interval of length ``period``
never exceeds the limit (no 2× burst at a boundary, as fixed windows allow; the property tests
check it), and the price is being at most one bucket (1/60 of the period) too strict.

One admission checks every scope of a request at once (end user, client IP, virtual key;
requests per minute and per day, tokens per minute) and counts in all of them or in none.
Token scopes take a *reservation* (prompt tokens + the output cap) that is *settled* with the
actual usage after the call (STYLE 10), so concurrent requests cannot overshoot.

Each update is expressible as one Redis Lua script over the scopes' keys (a hash of bucket →
amount per key, plus its running total); ``stores/counters_memory.py`` is the in-process
backend with the same behaviour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

BUCKETS = 60


@dataclass(frozen=True, slots=True)
class Limit:
    """One counter: ``limit`` requests (or tokens) per ``period`` seconds in one scope."""

    key: str  # the counter's storage key, e.g. "eu:rpm:tenant\nalice"
    label: str  # what a client is told: "end-user requests per minute"
    limit: int
    period: float
    tokens: bool = False  # counts tokens (the reservation), not requests
    width: float = field(init=False, repr=False, compare=False)  # one bucket, in seconds

    def __post_init__(self) -> None:
        object.__setattr__(self, "width", self.period / BUCKETS)


@dataclass(frozen=True, slots=True)
class Usage:
    """A limit's state right after an admission: how much is left, and when it is full again."""

    limit: Limit
    remaining: int
    reset: float  # seconds until the window is back to full


@dataclass(frozen=True, slots=True)
class Reservation:
    """Tokens reserved in the token scopes at ``at``; settled with the actual usage later."""

    at: float
    limits: tuple[Limit, ...]
    tokens: int


@dataclass(frozen=True, slots=True)
class Admission:
    admitted: bool
    # the tightest request limit and the tightest token limit (what x-ratelimit-* shows)
    usage: tuple[Usage, ...] = ()
    denied: Limit | None = None
    # seconds until the denied request would fit; math.inf when it never can (cost > limit)
    retry_after: float = 0.0
    reservation: Reservation | None = None


def bucket_of(now: float, limit: Limit) -> int:
    return int(now // limit.width)


def oldest_counted(now: float, limit: Limit) -> int:
    """The oldest bucket still counted at ``now``: the current one and BUCKETS before it."""
    return bucket_of(now, limit) - BUCKETS


def expires_at(bucket: int, limit: Limit) -> float:
    """When a bucket stops being counted."""
    return (bucket + BUCKETS + 1) * limit.width


def go_duration(seconds: float) -> str:
    """OpenAI's reset format (Go's ``time.Duration`` string): ``12ms``, ``1s``, ``6m0s``."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{max(1, math.ceil(seconds * 1000))}ms"
    total = math.ceil(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
