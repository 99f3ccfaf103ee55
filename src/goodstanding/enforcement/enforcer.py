"""Strikes that warn, suspend and ban (SPEC §2): the one place an end user's status changes.

The strikes finisher, the OpenAI webhook and the operator's CLI all go through ``Enforcer``,
so every change is written with its action record (who, why, until when) and the in-process
standing cache is invalidated in the same step.

Counting: strikes at or after ``max(now - window, forgiven_at)`` count. Old strikes age out
of the window; an unban or reset forgives the strikes before it (without that, the next
single strike after an unban would ban again at once). Thresholds only escalate: a strike
never turns a ban into a suspension or shortens a running suspension.

Every change is decided inside ``EndUserStore.change_standing``, under the end user's lock,
from the standing and strike count as they are then (never from an earlier read): N
concurrent strikes, in any number of processes, leave exactly what N sequential strikes
leave, and only an operator (unban, reset) ever lowers a standing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from goodstanding import metrics
from goodstanding.endusers.identity import pseudonym
from goodstanding.enforcement.standing import (
    Action,
    ActionKind,
    Change,
    Decide,
    LocalStandingCache,
    Standing,
    Status,
    Strike,
    Transition,
)
from goodstanding.settings import StrikeSettings, parse_duration
from goodstanding.stores.base import EndUserStore, StandingCache

log = logging.getLogger("goodstanding.enforcement")

STRIKES = metrics.counter(
    "goodstanding_strikes_total", "Strikes recorded against end users, by source.", ("source",))
ACTIONS = metrics.counter(
    "goodstanding_enforcement_actions_total", "Warnings, suspensions, bans, unbans and resets.",
    ("action",))


@dataclass(frozen=True, slots=True)
class StrikePolicy:
    """``StrikeSettings`` with durations in seconds, resolved once per key."""

    warn_at: int
    suspend_at: int
    suspend_for: float
    ban_at: int
    window: float

    @classmethod
    def of(cls, settings: StrikeSettings) -> StrikePolicy:
        return cls(settings.warn_at, settings.suspend_at, parse_duration(settings.suspend_for),
                   settings.ban_at, parse_duration(settings.window))


def merge_strikes(base: StrikeSettings, override: dict[str, Any] | None) -> StrikeSettings:
    """A key's ``policy.strikes`` over the global settings: only the keys it names change."""
    if not override:
        return base
    parsed = StrikeSettings.model_validate(override)
    return base.model_copy(update={k: getattr(parsed, k) for k in parsed.model_fields_set})


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one strike led to: how many now count, and the action taken (None: below warn_at)."""

    strikes: int
    action: ActionKind | None
    standing: Standing | None


class Enforcer:
    def __init__(
        self,
        store: EndUserStore,
        cache: StandingCache | None = None,
        clock: Callable[[], float] = time.time,
        secret: str | None = None,
    ) -> None:
        self.store = store
        self.secret = secret  # names end users in the log by their safety identifier
        self.cache = cache or LocalStandingCache()
        self.clock = clock
        # told of every action after its commit (the ops alerts: a ban alerts)
        self.on_action: Callable[[Action], None] | None = None

    async def standing(self, tenant: str, end_user: str) -> Standing | None:
        """The hot-path read: from the cache, from the store on a miss."""
        user = (tenant, end_user)
        now = time.monotonic()
        hit, standing = self.cache.get(user, now)
        if not hit:
            generation = self.cache.generation  # a change during the read: do not cache it
            standing = await self.store.get_standing(tenant, end_user)
            self.cache.put(user, standing, now, generation)
        return standing

    async def strike(
        self, strike: Strike, policy: StrikePolicy, *, zero_tolerance: bool = False,
        by: str = "gateway", at_least: ActionKind | None = None, why: str | None = None,
    ) -> Outcome:
        """Record a strike and act on the thresholds; ``at_least`` is a floor (an OpenAI
        enforcement notice suspends or bans whatever the count says). The decision is taken
        under the end user's lock in the store, from their standing and count at that moment."""

        def decide(current: Standing | None, count: int) -> Change | None:
            return _on_strike(current, count, strike, policy, zero_tolerance, by, at_least, why)

        done = await self.store.change_standing(strike.tenant, strike.end_user, decide, strike,
                                                policy.window)
        STRIKES.inc(strike.source)
        await self._announce(done.change)
        return Outcome(done.count, done.change.action.action if done.change else None,
                       done.after)

    async def suspend(
        self, tenant: str, end_user: str, seconds: float, reason: str, by: str
    ) -> Standing:
        now = self.clock()

        def decide(current: Standing | None, _: int) -> Change | None:
            status = current.effective(now) if current else "active"
            if status == "banned":
                return None  # a suspension never softens a ban
            until = now + seconds
            if status == "suspended" and current is not None and current.until:
                until = max(until, current.until)
            return _change(current, tenant, end_user, now, "suspend", by, reason, until)

        return _standing_after(await self._change(tenant, end_user, decide))

    async def ban(self, tenant: str, end_user: str, reason: str, by: str) -> Standing:
        now = self.clock()

        def decide(current: Standing | None, _: int) -> Change:
            return _change(current, tenant, end_user, now, "ban", by, reason, None)

        return _standing_after(await self._change(tenant, end_user, decide))

    async def unban(
        self, tenant: str, end_user: str, by: str, reason: str | None = None
    ) -> Standing | None:
        """Lift a ban or suspension and forgive the strikes so far (they stay in the history)."""
        now = self.clock()

        def decide(current: Standing | None, _: int) -> Change | None:
            if current is None:
                return None
            return Change(Standing(tenant, end_user, "active", None, reason, now, forgiven_at=now),
                          Action(tenant, end_user, now, "unban", by, reason))

        return (await self._change(tenant, end_user, decide)).after

    async def reset(self, tenant: str, end_user: str, by: str) -> int:
        """Delete the strike history and make the end user active; the reset itself is kept."""
        now = self.clock()
        removed = await self.store.clear_strikes(tenant, end_user)
        standing = Standing(tenant, end_user, "active", None, "reset", now, forgiven_at=now)
        action = Action(tenant, end_user, now, "reset", by, f"{removed} strikes removed")
        await self._change(tenant, end_user, lambda _, __: Change(standing, action))
        return removed

    async def _change(self, tenant: str, end_user: str, decide: Decide) -> Transition:
        done = await self.store.change_standing(tenant, end_user, decide)
        await self._announce(done.change)
        return done

    async def _announce(self, change: Change | None) -> None:
        """After the commit: drop the cached standing here and in every other process."""
        if change is None:
            return
        standing, action = change.standing, change.action
        user = (standing.tenant, standing.end_user)
        self.cache.invalidate(user)
        await self.cache.changed(user)  # the other gateway processes drop theirs too
        ACTIONS.inc(action.action)
        if self.on_action is not None:
            self.on_action(action)
        log.info("end user %s/%s: %s by %s (%s)", standing.tenant,
                 pseudonym(self.secret, standing.tenant, standing.end_user), action.action,
                 action.by, action.reason)


def _standing_after(done: Transition) -> Standing:
    # suspend and ban always find or write a standing
    assert done.after is not None
    return done.after


def _on_strike(
    current: Standing | None, count: int, strike: Strike, policy: StrikePolicy,
    zero_tolerance: bool, by: str, at_least: ActionKind | None, why: str | None,
) -> Change | None:
    """What one strike does to the standing it finds: thresholds only escalate, a ban stays."""
    status = current.effective(strike.ts) if current else "active"
    if status == "banned":
        return None
    args = (current, strike.tenant, strike.end_user, strike.ts)
    if zero_tolerance or count >= policy.ban_at or at_least == "ban":
        why = why or (f"zero tolerance: {strike.reason}"[:256] if zero_tolerance else (
            f"{count} strikes within the window (ban at {policy.ban_at})"))
        return _change(*args, "ban", by, why, None)
    if count >= policy.suspend_at or at_least == "suspend":
        until = strike.ts + policy.suspend_for
        if status == "suspended" and current is not None and current.until is not None:
            until = max(until, current.until)
        why = why or f"{count} strikes within the window (suspend at {policy.suspend_at})"
        return _change(*args, "suspend", by, why, until)
    if count >= policy.warn_at:
        return _change(*args, "warn", by, strike.reason, None)
    return None


def _change(
    current: Standing | None, tenant: str, end_user: str, ts: float, kind: ActionKind, by: str,
    why: str | None, until: float | None,
) -> Change:
    if kind == "warn":
        # a warning leaves the status as it is; the row makes the user visible in `list`
        standing = replace(current or Standing(tenant, end_user), updated_at=ts)
    else:
        status: Status = "banned" if kind == "ban" else "suspended"
        standing = Standing(tenant, end_user, status, until, why, ts,
                            current.forgiven_at if current else None)
    return Change(standing, Action(tenant, end_user, ts, kind, by, why, until))

