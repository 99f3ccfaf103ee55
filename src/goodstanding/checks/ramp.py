"""Traffic spikes (recorded) and the ramp governor (429 above the allowed growth).

The last check before the money is spent (after moderation), so what it counts is what would
go upstream. See ``abuse/ramp.py``; settings ``signals.ramp``.
"""

from __future__ import annotations

from goodstanding.abuse.ramp import Ramp, retry_after
from goodstanding.call import Call, Verdict
from goodstanding.errors import RateLimitExceeded
from goodstanding.settings import RampSettings

_PASS = Verdict("ramp")


class RampCheck:
    name = "ramp"

    def __init__(self, settings: RampSettings) -> None:
        self.ramp = Ramp(settings)

    async def check(self, call: Call) -> Verdict:
        if call.method == "GET":
            return _PASS
        key = call.key
        tier = key.trust_tier if key else "anonymous"
        decision = self.ramp.admit(key.id if key else None, tier)
        if decision.wait > 0:
            seconds = retry_after(decision.wait)
            error = RateLimitExceeded(
                "The organization's traffic is growing faster than the gateway's ramp allows "
                f"(signals.ramp); the request was not sent. Try again in {seconds}s.",
                headers={"retry-after": seconds}, reasons=(f"ramp_shed:{tier}",))
            return Verdict(self.name, "refuse", error.reasons, error)
        if decision.spikes:
            return Verdict(self.name, "flag", decision.spikes)
        return _PASS
