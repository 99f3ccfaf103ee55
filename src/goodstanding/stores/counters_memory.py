"""In-process counters (the embedded default): one gateway process, no shared state.

Each counter is ``[total, deque of [bucket, amount]]`` (see ``ratelimit``): buckets that left
the window are dropped from the left and subtracted from the running total, so an admission is
amortised O(1) per scope whatever the limit. Within one event loop nothing interleaves between
check and count, so an admission across several scopes is atomic without a lock.

Idle counters are swept every ``SWEEP_EVERY`` admissions, so memory follows the active users.
"""

from __future__ import annotations

import math
from collections import deque

from goodstanding.limits.ratelimit import (
    BUCKETS,
    Admission,
    Limit,
    Reservation,
    Usage,
    expires_at,
)

SWEEP_EVERY = 50_000


class _Counter:
    __slots__ = ("buckets", "total", "width")

    def __init__(self, width: float) -> None:
        self.total = 0
        self.buckets: deque[list[int]] = deque()
        self.width = width

    def trim(self, oldest: int) -> None:
        buckets = self.buckets
        while buckets and buckets[0][0] < oldest:
            self.total -= buckets.popleft()[1]

    def add(self, bucket: int, amount: int) -> None:
        buckets = self.buckets
        if buckets and buckets[-1][0] == bucket:
            buckets[-1][1] += amount
        else:
            buckets.append([bucket, amount])
        self.total += amount


class MemoryCounters:
    def __init__(self) -> None:
        self._counters: dict[str, _Counter] = {}
        self._seen: dict[str, dict[str, float]] = {}
        self._admissions = 0

    async def acquire(self, limits: tuple[Limit, ...], tokens: int, now: float) -> Admission:
        return self.acquire_now(limits, tokens, now)

    def acquire_now(self, limits: tuple[Limit, ...], tokens: int, now: float) -> Admission:
        counters = self._counters
        plan: list[tuple[Limit, _Counter, int, int]] = []
        for limit in limits:
            counter = counters.get(limit.key)
            if counter is None:
                counter = counters[limit.key] = _Counter(limit.width)
            bucket = int(now // counter.width)
            counter.trim(bucket - BUCKETS)
            cost = tokens if limit.tokens else 1
            if counter.total + cost > limit.limit:
                return self._denied(plan, limit, counter, cost, now)
            plan.append((limit, counter, bucket, cost))
        token_limits = []
        for limit, counter, bucket, cost in plan:
            counter.add(bucket, cost)
            if limit.tokens:
                token_limits.append(limit)
        self._admissions += 1
        if self._admissions % SWEEP_EVERY == 0:
            self.sweep(now)
        reservation = Reservation(now, tuple(token_limits), tokens) if token_limits else None
        return Admission(True, _tightest(plan, now), reservation=reservation)

    def _denied(self, plan: list[tuple[Limit, _Counter, int, int]], limit: Limit,
                counter: _Counter, cost: int, now: float) -> Admission:
        plan = [*plan, (limit, counter, 0, cost)]
        return Admission(False, _tightest(plan, now), limit, _wait(counter, limit, cost, now))

    async def settle(self, reservation: Reservation, actual: int, now: float) -> None:
        self.settle_now(reservation, actual, now)

    def settle_now(self, reservation: Reservation, actual: int, now: float) -> None:
        delta = actual - reservation.tokens
        if not delta:
            return
        for limit in reservation.limits:
            counter = self._counters.get(limit.key)
            if counter is None:
                continue
            bucket = int(reservation.at // counter.width)
            oldest = int(now // counter.width) - BUCKETS
            if bucket < oldest:
                continue  # the reservation has already left the window
            counter.trim(oldest)
            for entry in reversed(counter.buckets):
                if entry[0] == bucket:
                    change = max(delta, -entry[1])
                    entry[1] += change
                    counter.total += change
                    break
                if entry[0] < bucket:
                    break

    async def distinct(self, key: str, member: str, now: float, window: float) -> int:
        seen = self._seen.get(key)
        if seen is None:
            seen = self._seen[key] = {}
        seen[member] = now
        if len(seen) > 1:
            for name in [m for m, at in seen.items() if at <= now - window]:
                del seen[name]
        return len(seen)

    def sweep(self, now: float) -> None:
        """Drop counters whose every bucket has left the window."""
        stale = [key for key, c in self._counters.items()
                 if not c.buckets or (c.buckets[-1][0] + BUCKETS + 1) * c.width <= now]
        for key in stale:
            del self._counters[key]
        for key in [k for k, seen in self._seen.items() if max(seen.values()) < now - 86400]:
            del self._seen[key]

    async def close(self) -> None:
        self._counters.clear()
        self._seen.clear()


def _tightest(plan: list[tuple[Limit, _Counter, int, int]], now: float) -> tuple[Usage, ...]:
    """The request limit and the token limit with the least room: what the headers show."""
    best: dict[bool, tuple[int, Limit, _Counter]] = {}
    for limit, counter, _, _ in plan:
        left = limit.limit - counter.total
        found = best.get(limit.tokens)
        if found is None or left < found[0]:
            best[limit.tokens] = (left, limit, counter)
    return tuple(_usage(limit, counter, now) for _, limit, counter in best.values())


def _usage(limit: Limit, counter: _Counter, now: float) -> Usage:
    buckets = counter.buckets
    reset = expires_at(buckets[-1][0], limit) - now if buckets and counter.total > 0 else 0.0
    return Usage(limit, max(0, limit.limit - counter.total), max(0.0, reset))


def _wait(counter: _Counter, limit: Limit, cost: int, now: float) -> float:
    """Seconds until ``cost`` fits: the oldest buckets must leave the window first."""
    if cost > limit.limit:
        return math.inf
    excess = counter.total + cost - limit.limit
    freed = 0
    for bucket, amount in counter.buckets:
        freed += amount
        if freed >= excess:
            return max(0.0, expires_at(bucket, limit) - now)
    return limit.period  # unreachable while total is consistent
