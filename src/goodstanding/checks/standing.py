"""Suspended and banned end users stop here, before anything costs money or moderation budget.

The first check after identity. It reads the end user's standing from the in-process cache
(``Enforcer.standing``), so the common case — an end user in good standing — is one dict
lookup. Suspended → 403 ``end_user_suspended`` with ``retry-after``; banned → 403
``end_user_banned`` (SPEC §3).
"""

from __future__ import annotations

import datetime as dt
import math
import time

from goodstanding.call import Call, Verdict
from goodstanding.enforcement.enforcer import Enforcer
from goodstanding.errors import EndUserBanned, EndUserSuspended
from goodstanding.policy.render import PATH as POLICY_PATH
from goodstanding.policy.render import section_for

_PASS = Verdict("standing")


class StandingCheck:
    name = "standing"

    def __init__(self, enforcer: Enforcer, policy_url: str = POLICY_PATH) -> None:
        self.enforcer = enforcer
        self.policy_url = policy_url

    async def check(self, call: Call) -> Verdict:
        if call.end_user is None or call.key is None:
            return _PASS
        standing = await self.enforcer.standing(call.key.tenant, call.end_user)
        if standing is None:
            return _PASS
        now = time.time()
        status = standing.effective(now)
        if status == "active":
            return _PASS
        if status == "banned":
            error: EndUserBanned | EndUserSuspended = EndUserBanned(
                "This end user is banned from this service for violating its usage policies "
                f"(see {self._section(standing.reason)}).", reasons=("end_user_banned",))
            return Verdict(self.name, "refuse", error.reasons, error)
        assert standing.until is not None
        retry = max(1, math.ceil(standing.until - now))
        until = dt.datetime.fromtimestamp(standing.until, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        error = EndUserSuspended(
            f"This end user is suspended until {until} after repeated policy violations "
            f"(see {self._section(standing.reason)}).",
            headers={"retry-after": str(retry)}, reasons=("end_user_suspended",))
        return Verdict(self.name, "refuse", error.reasons, error)

    def _section(self, reason: str | None) -> str:
        """The policy section the standing's reason points to (``policy.render``)."""
        return f"{self.policy_url}#{section_for(reason or '')}"
