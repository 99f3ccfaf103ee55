"""The end user's tier, resolved once; endpoints and models that need a higher one → 403.

After identity: the tier is a verified token's claim, else a valid signed claim
(``X-Goodstanding-Tier``), else the key's (``tiers.tier_of``). ``identity.require_tier``
names the lowest tier an endpoint (``images.generations``, ``chat.completions``, …) or a
model needs; a call below it → 403 ``tier_required``, naming the tier needed. Only in the
pipeline when tokens, tier requirements or per-tier strike thresholds are configured;
otherwise the limits check resolves the tier as it always did.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from goodstanding.call import Call, Verdict
from goodstanding.errors import TierRequired
from goodstanding.limits.tiers import TIERS, meets, tier_of
from goodstanding.settings import RequireTier

NAME = "tier"
_PASS = Verdict(NAME)


class TierCheck:
    name = NAME

    def __init__(self, require: RequireTier | None, tier_secret: str | None,
                 order: tuple[str, ...] = TIERS, clock: Callable[[], float] = time.time) -> None:
        self.rank = {name: rank for rank, name in enumerate(order)}  # lowest first
        self.endpoints = dict(require.endpoints) if require else {}
        self.models = dict(require.models) if require else {}
        self.secret = tier_secret.encode() if tier_secret else None
        self.clock = clock

    async def check(self, call: Call) -> Verdict:
        if call.key is None:
            return _PASS
        tier = tier_of(call, self.secret, self.clock())
        needed = self.endpoints.get(call.endpoint)
        what = f"this endpoint ({call.endpoint})"
        model_needs = self.models.get(call.model) if call.model else None
        if model_needs is not None and (needed is None or not meets(needed, model_needs, self.rank)):
            needed, what = model_needs, f"the model {call.model}"
        if needed is None or meets(tier, needed, self.rank):
            return _PASS
        error = TierRequired(f"{what[0].upper()}{what[1:]} needs a {needed} end user; this one "
                             f"is {tier}.", reasons=(f"tier_required:{needed}",))
        return Verdict(NAME, "refuse", error.reasons, error)
