"""Traffic spikes and the ramp governor.

OpenAI's guidance for large accounts: do not let traffic jump; grow it gradually. Traffic is
counted in ``BUCKETS`` buckets per ``window`` (default 15 minutes of 1-minute buckets):

- **spike**: the current bucket's requests, for the organization and per key, against an EWMA
  of the previous buckets: at least ``spike_factor`` × the baseline and ``spike_floor``
  requests is a spike (recorded once per bucket: reason ``traffic_spike:org|key:×N``).
- **governor**: the organization's requests in the trailing window may be at most
  ``max(floor, (1 + growth) × the window before it)``. Above that, a call is answered 429 with
  ``retry-after`` (until the oldest bucket leaves the window) instead of being sent; the lowest
  trust tier (``anonymous``) is shed first, from ``shed_share`` of the allowance. A process
  that just started learns for two windows before it sheds (a restart is not a ramp).

State is per process, a few dozen integers (per key: ``max_keys`` at most).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from goodstanding import metrics
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

register(Kind("traffic_spike", "sharp traffic increases", "count", 10.0, 0.3,
              advice="grow traffic gradually; find the key or client that jumped"),
         from_reasons=True)
register(Kind("ramp_shed", "calls shed by the ramp governor", "count", 200.0, 0.2,
              advice="traffic grew faster than the ramp allows: raise signals.ramp.floor or "
                     "growth if it is expected"), from_reasons=True)


class _Rate:
    """Requests per bucket: the current bucket's count and an EWMA baseline of finished ones."""

    __slots__ = ("baseline", "bucket", "count", "flagged")

    def __init__(self, bucket: int) -> None:
        self.bucket, self.count, self.baseline, self.flagged = bucket, 0, None, False

    def add(self, bucket: int, factor: float, floor: int) -> float | None:
        """Count one request; the jump (× baseline) when this one makes the bucket a spike."""
        if bucket != self.bucket:
            finished = [self.count] + [0] * min(BUCKETS, bucket - self.bucket - 1)
            for count in finished:
                self.baseline = count if self.baseline is None else \
                    ALPHA * count + (1 - ALPHA) * self.baseline
            self.bucket, self.count, self.flagged = bucket, 0, False
        self.count += 1
        if self.flagged or self.baseline is None or self.count < floor:
            return None
        base = max(self.baseline, 1.0)
        if self.count >= factor * base:
            self.flagged = True
            return self.count / base
        return None


@dataclass(frozen=True, slots=True)
class Decision:
    spikes: tuple[str, ...]
    wait: float  # > 0: shed, retry after this many seconds


class Ramp:
    def __init__(self, settings: RampSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.width = parse_duration(settings.window) / BUCKETS
        self.clock = clock
        self.counts: dict[int, int] = {}  # bucket → organization requests (2 windows kept)
        self.org = _Rate(0)
        self.keys: OrderedDict[str, _Rate] = OrderedDict()
        # a process that just started knows no "window before": it learns two windows first
        self.enforce_from = clock() + 2 * BUCKETS * self.width

    def admit(self, key_id: str | None, tier: str) -> Decision:
        s = self.settings
        now = self.clock()
        bucket = int(now // self.width)
        current = sum(c for b, c in self.counts.items() if b > bucket - BUCKETS)
        before = sum(c for b, c in self.counts.items()
                     if bucket - 2 * BUCKETS < b <= bucket - BUCKETS)
        allowed = max(s.floor, (1 + s.growth) * before)
        share = s.shed_share if tier == "anonymous" else 1.0
        if s.governor and current >= share * allowed and now >= self.enforce_from:
            SHED.inc(tier)
            oldest = min((b for b in self.counts if b > bucket - BUCKETS), default=bucket)
            return Decision((), max(1.0, (oldest + BUCKETS) * self.width - now))
        self.counts[bucket] = self.counts.get(bucket, 0) + 1
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
        return Decision(tuple(spikes), 0.0)


def retry_after(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
