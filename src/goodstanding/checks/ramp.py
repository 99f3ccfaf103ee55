"""Traffic spikes (recorded) and the ramp governor (queue briefly, then 429).

The last check before the money is spent (after moderation), so what it counts is what would
go upstream. See ``abuse/ramp.py``; settings ``signals.ramp``.

Over the allowed growth, a call is held while budget is due within what is left of its
``queue`` seconds (the oldest bucket leaving the window frees it), at most ``max_queued``
calls at once; every holder retries when budget frees, and the anonymous tier, allowed only
``shed_share`` of it, loses to the others. A call whose budget is not due in time is shed:
429 with ``retry-after``, reason ``ramp_shed:<tier>``.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from goodstanding.abuse.ramp import QUEUED, SHED, Decision, Ramp, retry_after
from goodstanding.call import Call, Verdict
from goodstanding.errors import RateLimitExceeded
from goodstanding.settings import RampSettings

if TYPE_CHECKING:
    from goodstanding.abuse.shared import Merger

_PASS = Verdict("ramp")


class RampCheck:
    name = "ramp"

    def __init__(self, settings: RampSettings, merger: Merger | None = None) -> None:
        self.ramp = Ramp(settings, merger=merger)
        self.queue = settings.queue
        self.max_queued = settings.max_queued
        self.queued = 0

    async def check(self, call: Call) -> Verdict:
        if call.method == "GET":
            return _PASS
        key = call.key
        key_id = key.id if key else None
        tier = key.trust_tier if key else "anonymous"
        decision = self.ramp.admit(key_id, tier)
        if decision.wait > 0:
            decision = await self._hold(key_id, tier, decision.wait)
        if decision.wait > 0:
            SHED.inc(tier)
            seconds = retry_after(decision.wait)
            error = RateLimitExceeded(
                "The organization's traffic is growing faster than the gateway's ramp allows "
                f"(signals.ramp); the request was not sent. Try again in {seconds}s.",
                headers={"retry-after": seconds}, reasons=(f"ramp_shed:{tier}",))
            return Verdict(self.name, "refuse", error.reasons, error)
        if decision.spikes:
            return Verdict(self.name, "flag", decision.spikes)
        return _PASS

    async def _hold(self, key_id: str | None, tier: str, wait: float) -> Decision:
        """Wait for budget while it is due within the queue time; the last decision."""
        shed = Decision((), wait)
        if self.queued >= self.max_queued:
            return shed  # the queue is full: shed now
        deadline = time.monotonic() + self.queue
        held = False
        self.queued += 1
        try:
            while wait <= deadline - time.monotonic():
                held = True
                await asyncio.sleep(wait + 0.005)  # just past the oldest bucket's end
                decision = self.ramp.admit(key_id, tier)
                if decision.wait <= 0:
                    QUEUED.inc("sent")
                    return decision
                wait = decision.wait
        finally:
            self.queued -= 1
        if held:
            QUEUED.inc("shed")
        return Decision((), wait)
