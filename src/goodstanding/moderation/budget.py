"""Moderation's own rate limit, tracked from its answers and never exceeded.

``omni-moderation-latest`` has a low limit of its own (10–20k TPM at tiers 1–2, reference
§1.1), separate from the chat models'. Every moderation answer carries OpenAI's
``x-ratelimit-*`` headers; from them we know what is left and how fast it refills (OpenAI's
reset is the time until the bucket is full again, so the refill is linear up to the limit).
Each call reserves its estimated tokens before it is sent. The headroom gauge is published
from each answer (whose figures include our own reservations), not on every reservation. Under pressure a call waits for the
refill (briefly: ``max_wait``) and otherwise fails as unavailable, so ``on_error`` decides,
instead of spending a request that OpenAI would answer with 429.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Mapping

from goodstanding import metrics

HEADROOM = metrics.gauge(
    "goodstanding_moderation_headroom",
    "Share of the moderation rate limit (the tighter of RPM and TPM) still available.",
    ("upstream",),
)
HEADROOM.merge = "min"  # each worker's view of one shared upstream limit: the tightest wins
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class BudgetExhausted(Exception):
    """The call would exceed the moderation rate limit and the refill is too far away."""


_PARSED: dict[str, float | None] = {}  # resets repeat (``6ms``, ``0s``, ``1m30s``): parse once


def go_duration(value: str) -> float | None:
    """``6m0s`` → 360.0, ``12ms`` → 0.012 (OpenAI writes resets as Go durations)."""
    try:
        return _PARSED[value]
    except KeyError:
        pass
    pieces = _GO_DURATION.findall(value)
    seconds = sum(float(n) * _UNIT[unit] for n, unit in pieces) if pieces else None
    if len(_PARSED) < 4096:  # bounded: a reset is a duration of a few characters
        _PARSED[value] = seconds
    return seconds


class _Bucket:
    """One dimension (requests or tokens): what was left when last told, and the refill rate."""

    __slots__ = ("at", "left", "limit", "rate")

    def __init__(self) -> None:
        self.limit: float | None = None  # unknown until the first answer: no throttling
        self.left = 0.0
        self.at = 0.0
        self.rate = 0.0

    def available(self, now: float) -> float:
        if self.limit is None:
            return float("inf")
        return min(self.limit, self.left + self.rate * (now - self.at))

    def wait_for(self, amount: float, now: float) -> float:
        missing = amount - self.available(now)
        if missing <= 0:
            return 0.0
        if (self.limit is not None and amount > self.limit) or self.rate <= 0:
            return float("inf")
        return missing / self.rate

    def take(self, amount: float, now: float) -> None:
        if self.limit is not None:
            self.left, self.at = self.available(now) - amount, now

    def update(self, limit: str | None, left: str | None, reset: str | None, now: float) -> None:
        if limit is None or left is None:
            return  # not told: keep what we knew
        try:
            total, remaining = float(limit), float(left)
        except ValueError:
            return
        # "nan", "-5", a limit of 0: not a figure OpenAI sends; believing it would refuse every
        # call here (our own 429s) on the word of a broken proxy. Keep what we knew.
        if not (0 < total < math.inf and 0 <= remaining < math.inf):
            return
        remaining = min(remaining, total)
        seconds = go_duration(reset or "") or 0.0
        self.limit, self.left, self.at = total, remaining, now
        # full again after `seconds`: the linear refill rate; a full bucket refills at limit/min
        self.rate = (total - remaining) / seconds if seconds > 0 else total / 60.0

    def share(self, now: float) -> float:
        if not self.limit:
            return 1.0
        return max(0.0, self.available(now) / self.limit)


class Budget:
    """The moderation budget of one upstream organization (one upstream key)."""

    __slots__ = ("max_wait", "name", "requests", "tokens")

    def __init__(self, name: str = "default", max_wait: float = 2.0) -> None:
        self.name, self.max_wait = name, max_wait
        self.requests, self.tokens = _Bucket(), _Bucket()

    def reserve(self, tokens: int) -> bool:
        """Reserve one request of ``tokens`` if the budget has it now (no waiting)."""
        requests, bucket = self.requests, self.tokens
        if requests.limit is None and bucket.limit is None:
            return True  # nothing known yet: no throttling
        # wait_for and take by hand: this runs for every call (upstream) and every moderation
        # batch, and the six method calls cost more than the arithmetic
        now = time.monotonic()
        left = requests.available(now)
        have = bucket.available(now)
        if left < 1 or have < tokens:
            return False
        if requests.limit is not None:
            requests.left, requests.at = left - 1, now
        if bucket.limit is not None:
            bucket.left, bucket.at = have - tokens, now
        return True

    async def acquire(self, tokens: int) -> None:
        """Reserve one request of ``tokens``; wait for the refill at most ``max_wait``."""
        deadline = time.monotonic() + self.max_wait
        while True:
            now = time.monotonic()
            wait = max(self.requests.wait_for(1, now), self.tokens.wait_for(tokens, now))
            if wait == 0.0:
                self.requests.take(1, now)
                self.tokens.take(tokens, now)
                return
            if now + wait > deadline:
                raise BudgetExhausted(f"moderation budget exhausted ({self.name})")
            await asyncio.sleep(wait)

    def update(self, headers: Mapping[str, str]) -> None:
        """Believe the headers of a moderation answer (they include our own reservations)."""
        now = time.monotonic()
        get = headers.get
        self.requests.update(get("x-ratelimit-limit-requests"),
                             get("x-ratelimit-remaining-requests"),
                             get("x-ratelimit-reset-requests"), now)  # fmt: skip
        self.tokens.update(get("x-ratelimit-limit-tokens"), get("x-ratelimit-remaining-tokens"),
                           get("x-ratelimit-reset-tokens"), now)  # fmt: skip
        self._publish(now)

    def exhausted_for(self, seconds: float) -> None:
        """After a 429: nothing left until ``seconds`` from now."""
        now = time.monotonic()
        for bucket in (self.requests, self.tokens):
            if bucket.limit is not None:
                bucket.left, bucket.at = -bucket.rate * seconds, now
        self._publish(now)

    def headroom(self) -> float:
        now = time.monotonic()
        return min(self.requests.share(now), self.tokens.share(now))

    def _publish(self, now: float) -> None:
        HEADROOM.set(min(self.requests.share(now), self.tokens.share(now)), self.name)
