"""Traffic spikes and the ramp governor.

OpenAI's guidance for large accounts: do not let traffic jump; grow it gradually. Traffic is
counted in ``BUCKETS`` buckets per ``window`` (default 15 minutes of 1-minute buckets):

- **spike**: the current bucket's requests, for the organization and per key, against an EWMA
  of the previous buckets: at least ``spike_factor`` × the baseline and ``spike_floor``
  requests is a spike (recorded once per bucket: reason ``traffic_spike:org|key:×N``).
- **governor**: the organization's requests in the trailing window may be at most
  ``max(floor, (1 + growth) × the window before it)``. Above that, ``admit`` says how long
  until the oldest bucket leaves the window (when budget frees); the check holds the call up
  to ``queue`` seconds for it, then answers 429 with ``retry-after`` instead of sending it.
  The lowest trust tier (``anonymous``) is shed first, from ``shed_share`` of the allowance.
  A process that just started learns for two windows before it sheds (a restart is not a ramp).

State is a few dozen integers (per key: ``max_keys`` at most). With Redis counters the
organization's buckets and the keys' current buckets are shared between processes
(``shared.py``: merged every second, no round trip per request), so N processes govern the
organization's total, not N times it. The window sums are cached per bucket and merge, so a
request costs a handful of additions.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from goodstanding import metrics
from goodstanding.abuse.shared import MAX_HASHES, Deltas, Merger, Totals
from goodstanding.ops.signals import Kind, register
from goodstanding.settings import parse_duration

if TYPE_CHECKING:
    from goodstanding.settings import RampSettings

BUCKETS = 15
ALPHA = 0.3  # EWMA weight of the newest finished bucket

SPIKES = metrics.counter("goodstanding_traffic_spikes_total",
                         "Traffic spikes seen, for the organization or a key.", ("scope",))
SHED = metrics.counter("goodstanding_ramp_shed_total",
                       "Calls refused by the ramp governor, by trust tier.", ("tier",))
QUEUED = metrics.counter("goodstanding_ramp_queued_total",
                         "Calls the ramp governor held for budget, by outcome (sent, shed).",
                         ("outcome",))

register(Kind("traffic_spike", "sharp traffic increases", "count", 10.0, 0.3,
              advice="grow traffic gradually; find the key or client that jumped"),
         from_reasons=True)
register(Kind("ramp_shed", "calls shed by the ramp governor", "count", 200.0, 0.2,
              advice="traffic grew faster than the ramp allows: raise signals.ramp.floor or "
                     "growth if it is expected"), from_reasons=True)


class _Rate:
    """Requests per bucket: the current bucket's count and an EWMA baseline of finished ones.
    ``others``: the other processes' count in the current bucket (shared mode)."""

    __slots__ = ("baseline", "bucket", "count", "flagged", "others", "pushed")

    def __init__(self, bucket: int) -> None:
        self.bucket, self.count, self.baseline, self.flagged = bucket, 0, None, False
        self.others = self.pushed = 0

    def add(self, bucket: int, factor: float, floor: int) -> float | None:
        """Count one request; the jump (× baseline) when this one makes the bucket a spike."""
        if bucket != self.bucket:
            finished = [self.count + self.others] + [0] * min(BUCKETS, bucket - self.bucket - 1)
            for count in finished:
                self.baseline = count if self.baseline is None else \
                    ALPHA * count + (1 - ALPHA) * self.baseline
            self.bucket, self.count, self.flagged = bucket, 0, False
            self.others = self.pushed = 0
        self.count += 1
        seen = self.count + self.others
        if self.flagged or self.baseline is None or seen < floor:
            return None
        base = max(self.baseline, 1.0)
        if seen >= factor * base:
            self.flagged = True
            return seen / base
        return None


@dataclass(frozen=True, slots=True)
class Decision:
    spikes: tuple[str, ...]
    wait: float  # > 0: over the allowed growth; budget frees in this many seconds


class Ramp:
    def __init__(self, settings: RampSettings, clock: Callable[[], float] = time.time,
                 merger: Merger | None = None) -> None:
        self.settings = settings
        self.width = parse_duration(settings.window) / BUCKETS
        self.clock = clock
        self.counts: dict[int, int] = {}  # bucket → this process's org requests (2 windows)
        self.others: dict[int, int] = {}  # bucket → the other processes' (shared mode)
        self.pushed: dict[int, int] = {}  # bucket → what this process had sent at the merge
        self.org = _Rate(0)
        self.keys: OrderedDict[str, _Rate] = OrderedDict()
        self.touched: dict[str, _Rate] = {}
        # a process that just started knows no "window before": it learns two windows first
        self.enforce_from = clock() + 2 * BUCKETS * self.width
        self._sums = (-1, 0, 0)  # (bucket, requests in the window, in the window before)
        self.merger = merger
        if merger is not None:
            merger.collectors.append(self._collect)

    def _window_sums(self, bucket: int) -> tuple[int, int]:
        cached, current, before = self._sums
        if cached != bucket:
            current = before = 0
            for counts in (self.counts, self.others):
                for b, c in counts.items():
                    if b > bucket - BUCKETS:
                        current += c
                    elif b > bucket - 2 * BUCKETS:
                        before += c
            self._sums = (bucket, current, before)
        return current, before

    def admit(self, key_id: str | None, tier: str) -> Decision:
        s = self.settings
        now = self.clock()
        bucket = int(now // self.width)
        current, before = self._window_sums(bucket)
        allowed = max(s.floor, (1 + s.growth) * before)
        share = s.shed_share if tier == "anonymous" else 1.0
        if s.governor and current >= share * allowed and now >= self.enforce_from:
            oldest = min((b for counts in (self.counts, self.others) for b, c in counts.items()
                          if b > bucket - BUCKETS and c), default=bucket)
            return Decision((), max(0.01, (oldest + BUCKETS) * self.width - now))
        self.counts[bucket] = self.counts.get(bucket, 0) + 1
        self._sums = (bucket, current + 1, before)
        if len(self.counts) > 2 * BUCKETS + 2:
            for b in [b for b in self.counts if b <= bucket - 2 * BUCKETS]:
                del self.counts[b]
        spikes: list[str] = []
        jump = self.org.add(bucket, s.spike_factor, s.spike_floor)
        if jump is not None:
            SPIKES.inc("org")
            spikes.append(f"traffic_spike:org:x{jump:.1f}")
        if key_id is not None:
            rate = self.keys.get(key_id)
            if rate is None:
                if len(self.keys) >= s.max_keys:
                    self.keys.popitem(last=False)
                rate = self.keys[key_id] = _Rate(bucket)
            else:
                self.keys.move_to_end(key_id)
            jump = rate.add(bucket, s.spike_factor, s.spike_floor)
            if jump is not None:
                SPIKES.inc("key")
                spikes.append(f"traffic_spike:key:x{jump:.1f}")
            if self.merger is not None:
                self.touched[key_id] = rate
        if self.merger is not None:
            self.merger.wake()
        return Decision(tuple(spikes), 0.0) if spikes else _SEND

    # --- shared state (Redis) ---------------------------------------------------------------

    def _collect(self) -> tuple[Deltas, int, Callable[[Totals], None]]:
        # organization buckets in one hash per window's worth (``r:o:{bucket // BUCKETS}``),
        # so old buckets expire with their hash; a key's current bucket in ``r:k:{bucket}:{id}``
        bucket = int(self.clock() // self.width)
        group = bucket // BUCKETS
        sent = {b: c for b, c in self.counts.items() if b > bucket - 2 * BUCKETS}
        deltas: Deltas = {f"r:o:{g}": {} for g in range(group - 2, group + 1)}
        for b, c in sent.items():
            if c != self.pushed.get(b, 0) and b // BUCKETS in range(group - 2, group + 1):
                deltas[f"r:o:{b // BUCKETS}"][str(b)] = c - self.pushed.get(b, 0)
        self.pushed = dict(sent)
        touched, self.touched = self.touched, {}
        keys: list[tuple[str, _Rate, int, int]] = []
        for key_id, rate in touched.items():
            if len(deltas) >= MAX_HASHES:
                break  # the rest of the keys' spikes stay per process until they send again
            delta = rate.count - rate.pushed
            deltas[f"r:k:{rate.bucket}:{key_id}"] = {"n": delta} if delta else {}
            rate.pushed = rate.count
            keys.append((key_id, rate, rate.bucket, rate.count))

        def done(totals: Totals) -> None:
            others: dict[int, int] = {}
            for g in range(group - 2, group + 1):
                for b, t in totals.get(f"r:o:{g}", {}).items():
                    if int(b) > bucket - 2 * BUCKETS:
                        others[int(b)] = max(0, t - sent.get(int(b), 0))
            self.others = others
            self._sums = (-1, 0, 0)
            for key_id, rate, at, count in keys:
                if rate.bucket == at and self.keys.get(key_id) is rate:
                    found = totals.get(f"r:k:{at}:{key_id}", {}).get("n", 0)
                    rate.others = max(0, found - count)

        return deltas, int(3 * BUCKETS * self.width * 1000) + 1000, done


_SEND = Decision((), 0.0)


def retry_after(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
