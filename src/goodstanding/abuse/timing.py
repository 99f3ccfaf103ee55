"""Round-the-clock, machine-regular timing: a script, not a person.

Per end user or key, once it sends at some volume (``Distillation`` creates a ``Timing`` only
for a scope with ``TIMING_FROM`` calls in its sliding window, so light users cost nothing):

- the inter-arrival gaps' mean and variance as exponentially weighted moving averages
  (``ALPHA``: about the last 100 gaps), so the coefficient of variation (std / mean) is
  O(1) to keep. People and busy applications (many people) arrive in bursts or at random:
  CV near or above 1. A loop with a sleep, or a rate-limited harvester: CV well below 0.5.
- the hours it was active in the last 24, as a 24-bit mask shifted as hours pass.

``regular`` is true once it has ``min_gaps`` gaps, a CV at most ``max_cv`` and activity in at
least ``hours`` of the last 24 hours.
"""

from __future__ import annotations

import math

ALPHA = 0.02
DAY_MASK = (1 << 24) - 1


class Timing:
    __slots__ = ("gaps", "hour", "hours", "last", "mean", "next_hour", "var")

    def __init__(self, now: float) -> None:
        self.last = now
        self.mean = self.var = 0.0
        self.gaps = 0
        self.hour = int(now // 3600)
        self.next_hour = (self.hour + 1) * 3600.0
        self.hours = 1

    def add(self, now: float) -> None:
        gap = now - self.last
        self.last = now
        if self.gaps == 0:
            self.mean = gap
        else:
            diff = gap - self.mean
            self.mean += ALPHA * diff
            self.var = (1 - ALPHA) * (self.var + ALPHA * diff * diff)
        self.gaps += 1
        if now >= self.next_hour:  # a new hour: shift the mask
            hour = int(now // 3600)
            self.hours = ((self.hours << min(hour - self.hour, 24)) | 1) & DAY_MASK
            self.hour = hour
            self.next_hour = (hour + 1) * 3600.0

    def cv(self) -> float:
        return math.sqrt(self.var) / self.mean if self.mean > 0 else math.inf

    def active_hours(self, now: float) -> int:
        """Hours with activity among the last 24 (the current one included)."""
        shift = int(now // 3600) - self.hour
        return 0 if shift >= 24 else ((self.hours << shift) & DAY_MASK).bit_count()
