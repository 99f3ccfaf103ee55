"""Every offence is a strike against the end user (SPEC §2): the strikes finisher.

Runs after every call, refused or not. The offences come from the input checks
(``call.offences``: a blocked prompt, a jailbreak attempt) and from the upstream itself: a
policy error such as ``invalid_prompt`` or ``cyber_policy`` means OpenAI's own classifiers
flagged this end user, which is exactly what the gateway must act on before OpenAI acts on the
whole organization. One call is one strike, however many offences it carried.

The strike is written before the response is answered (the pipeline awaits finishers before
the shell sends a refusal or a whole body), so a crash cannot lose it. The warning header
reaches the client on every non-streamed response; a stream's headers are gone by the time
the stream ends, so there it is only recorded.

A strike the store did not take in time (``StoreUnavailable``: the database slow or down) is
kept in memory and written once the store answers again (``strike_pending`` in the call's
record): the refusal is still answered at once, but an end user whose flagged prompts arrive
while the database struggles would otherwise never be suspended. It counts at its own time.
It is lost if this process dies first. A write the database committed just as its bound
expired is not written again: before each retry the end user's strikes are read, and a kept
strike whose request is already among them is done. A gateway that closes
(``close_strikes``) tries once more to write them, then logs how many it could not.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from goodstanding.call import Call, Offence, VirtualKey
from goodstanding.enforcement.enforcer import Enforcer, StrikePolicy, merge_strikes
from goodstanding.enforcement.standing import Strike
from goodstanding.errors import GatewayError, StoreUnavailable
from goodstanding.policy.render import PATH as POLICY_PATH
from goodstanding.policy.render import section_for
from goodstanding.settings import StrikeSettings

log = logging.getLogger("goodstanding.strikes")

# upstream error codes that are OpenAI's policy signals (reference §4.4), not malfunctions
UPSTREAM_POLICY_CODES = frozenset({"invalid_prompt", "cyber_policy", "bio_policy",
                                   "moderation_blocked"})
WARNING_HEADER = "x-goodstanding-warning"
# strikes kept for the store's return: beyond this many, the oldest are dropped (logged)
MAX_PENDING = 10_000
# seconds between attempts to write the kept strikes while the store does not answer
RETRY_S = 1.0


def offences_of(call: Call) -> list[Offence]:
    """The call's offences; an upstream policy error counts even when no finisher before this
    one (``UpstreamPolicy``) turned it into an offence, and never twice."""
    offences = list(call.offences)
    code = call.upstream.error_code
    if code in UPSTREAM_POLICY_CODES:
        reason = f"upstream_{code}"
        offences = [o for o in offences if o.reason != reason]
        offences.append(Offence(reason, (code,)))
    return offences


class StrikeFinisher:
    name = "strikes"

    def __init__(self, enforcer: Enforcer, settings: StrikeSettings,
                 policy_url: str = POLICY_PATH) -> None:
        self.enforcer = enforcer
        self.settings = settings
        self.default = StrikePolicy.of(settings)
        self._per_key: dict[tuple[str, str | None], StrikePolicy] = {}
        self.policy_url = policy_url
        # (strike, policy, zero tolerance) the store did not take; written by _retry
        self.pending: deque[tuple[Strike, StrikePolicy, bool]] = deque()
        self._retrying: asyncio.Task[None] | None = None

    async def finish(self, call: Call, error: GatewayError | None) -> None:
        if call.end_user is None or call.key is None:
            return
        offences = offences_of(call)
        if not offences:
            return
        reasons = tuple(dict.fromkeys(o.reason for o in offences))
        categories = tuple(dict.fromkeys(c for o in offences for c in o.categories))
        strike = Strike(call.key.tenant, call.end_user, time.time(), ",".join(reasons)[:256],
                        categories, "request", call.request_id)
        zero = any(o.zero_tolerance for o in offences)
        tier = call.tier if self.settings.tiers else None
        policy = self.policy_for(call.key, tier)
        try:
            outcome = await self.enforcer.strike(strike, policy, zero_tolerance=zero)
        except StoreUnavailable:
            self._keep(strike, policy, zero)
            call.reasons.append("strike_pending")
            raise
        call.reasons.append("strike")
        if outcome.action is None:
            return
        call.reasons.append({"warn": "end_user_warned", "suspend": "end_user_suspended",
                             "ban": "end_user_banned"}.get(outcome.action, outcome.action))
        section = f"{self.policy_url}#{section_for(reasons, categories, zero)}"
        call.response_headers[WARNING_HEADER] = self._warning(
            outcome.action, outcome.strikes, strike, call.key, tier) + f"; policy: {section}"

    def _keep(self, strike: Strike, policy: StrikePolicy, zero: bool) -> None:
        if len(self.pending) >= MAX_PENDING:
            dropped = self.pending.popleft()[0]
            log.error("strike kept for the store dropped (over %d kept): %s", MAX_PENDING,
                      dropped.request_id)
        self.pending.append((strike, policy, zero))
        if self._retrying is None or self._retrying.done():
            self._retrying = asyncio.get_running_loop().create_task(self._retry())

    async def _retry(self) -> None:
        """Write the kept strikes, oldest first, once the store answers again."""
        while self.pending:
            await asyncio.sleep(RETRY_S)
            await self._drain()

    async def _drain(self) -> None:
        """Write kept strikes, oldest first, until none is left or the store fails again."""
        while self.pending:
            strike, policy, zero = self.pending[0]
            try:
                await self._write_kept(strike, policy, zero)
            except StoreUnavailable:
                return  # still down: the next round
            except Exception:  # a bug must not keep the other kept strikes from the store
                log.exception("kept strike %s could not be written", strike.request_id)
            self.pending.popleft()

    async def _write_kept(self, strike: Strike, policy: StrikePolicy, zero: bool) -> None:
        # the attempt that timed out may have committed all the same (its bound expired just
        # as the database answered): it must not count twice
        if strike.request_id is not None:
            known = await self.enforcer.store.strikes_of(strike.tenant, strike.end_user)
            if any(k.request_id == strike.request_id for k in known):
                return
        await self.enforcer.strike(strike, policy, zero_tolerance=zero)

    async def close(self) -> None:
        """Stop retrying; one last attempt for the kept strikes (each within the store's bound),
        and an error log naming how many are lost when the store still does not answer."""
        if self._retrying is not None:
            self._retrying.cancel()
            await asyncio.gather(self._retrying, return_exceptions=True)
            self._retrying = None
        await self._drain()
        if self.pending:
            log.error("%d kept strikes lost at close: the store did not answer (first: %s)",
                      len(self.pending), self.pending[0][0].request_id)
            self.pending.clear()

    def policy_for(self, key: VirtualKey, tier: str | None = None) -> StrikePolicy:
        """The key's thresholds (``policy.strikes``), then the tier's (``strikes.tiers``)."""
        override = key.policy.get("strikes") if key.policy else None
        per_tier = self.settings.tiers.get(tier) if tier else None
        if not override and not per_tier:
            return self.default
        policy = self._per_key.get((key.id, tier if per_tier else None))
        if policy is None:
            try:
                policy = StrikePolicy.of(self._settings(key, tier))
            except ValueError:
                log.error("key %s: invalid policy.strikes; using the global thresholds", key.id)
                policy = self.default
            self._per_key[(key.id, tier if per_tier else None)] = policy
        return policy

    def _settings(self, key: VirtualKey, tier: str | None) -> StrikeSettings:
        override = key.policy.get("strikes") if key.policy else None
        per_tier = self.settings.tiers.get(tier) if tier else None
        return merge_strikes(merge_strikes(self.settings, override), per_tier)

    def _warning(self, action: str, count: int, strike: Strike, key: VirtualKey,
                 tier: str | None) -> str:
        policy = self.policy_for(key, tier)
        reason = strike.reason
        if action == "ban":
            return f"end user banned ({reason})"
        if action == "suspend":
            suspend_for = self._settings(key, tier).suspend_for
            return f"strike {count} ({reason}): end user suspended for {suspend_for}"
        return (f"strike {count} ({reason}): suspension at {policy.suspend_at} strikes, "
                f"ban at {policy.ban_at}")


async def close_strikes(pipeline: Any) -> None:
    """Write or report the strikes kept while the store was away (``Gateway.close``)."""
    for finisher in pipeline.finishers:
        if isinstance(finisher, StrikeFinisher):
            await finisher.close()
