"""End users' acceptance of the content policy: recorded per (tenant, end user) and version.

Three ways to record one, all through ``record_acceptance``: the CLI (``goodstanding users
accept ID --version N``), the admin API (``POST /admin/api/users/{id}/acceptance``, mounted on
the same function), and the key holder's header ``X-End-User-Policy-Version: N`` on any call
(for keys whose ``policy.policy_acceptance`` is not false). ``acceptance_share`` gives the
compliance report the share of traffic from end users who accepted the version in force.

``AcceptanceGate`` answers the hot-path question "which version did this end user accept?"
from a small in-process cache: an answer at or above the current version is kept for a
minute (an acceptance is never withdrawn), a lower one for ``NEGATIVE_SECONDS``, so an
acceptance recorded by another process (CLI, admin API, another worker) is seen within that.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from goodstanding.endusers.identity import canonical_end_user
from goodstanding.settings import ContentPolicySettings, parse_duration, parse_time
from goodstanding.stores.base import Acceptance, AcceptanceStore

POSITIVE_SECONDS = 60.0
NEGATIVE_SECONDS = 2.0
CACHE_SIZE = 100_000


async def record_acceptance(store: AcceptanceStore, tenant: str, end_user: str, version: int,
                            by: str, now: float | None = None) -> Acceptance:
    """Record that ``end_user`` of ``tenant`` accepted ``version`` (``by``: who says so).

    The id is canonicalised like the gateway does; ValueError for an empty or too long id or
    a version below 1 (the admin API answers those with 400)."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError("the policy version must be a whole number from 1")
    canonical = canonical_end_user(end_user)
    if not canonical:
        raise ValueError("the end-user id is empty once canonicalised")
    acceptance = Acceptance(tenant, canonical, version, time.time() if now is None else now,
                            by[:128] or "unknown")
    await store.record_acceptance(acceptance)
    return acceptance


async def acceptance_share(store: AcceptanceStore, version: int,
                           calls: Iterable[tuple[str | None, str | None]]) -> dict[str, Any]:
    """For the compliance report: of these calls' (tenant, end user) pairs, how many came from
    end users who had accepted ``version`` (or later) by now. Calls without an end user count
    as not accepted."""
    accepted = await store.accepted_end_users(version)
    total = hits = 0
    for user in calls:
        total += 1
        hits += user in accepted
    return {"policy_version": version, "calls": total, "accepted_calls": hits,
            "accepted_share": hits / total if total else None}


class AcceptanceGate:
    """The current version, its grace period, and each end user's accepted version (cached)."""

    def __init__(self, store: AcceptanceStore, settings: ContentPolicySettings,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.version = settings.version
        grace = parse_duration(settings.grace)
        self.grace_until = (parse_time(settings.effective_at) + grace
                            if settings.effective_at and grace else None)
        self.clock = clock
        self._cache: dict[tuple[str, str], tuple[int, float]] = {}

    def in_grace(self, now: float) -> bool:
        return self.grace_until is not None and now < self.grace_until

    async def accepted(self, tenant: str, end_user: str) -> int:
        """The highest version this end user accepted (0: none)."""
        user = (tenant, end_user)
        now = time.monotonic()
        entry = self._cache.get(user)
        if entry is not None and entry[1] > now:
            return entry[0]
        found = await self.store.get_acceptance(tenant, end_user)
        version = found.version if found else 0
        self._remember(user, version, now)
        return version

    async def accept(self, tenant: str, end_user: str, version: int, by: str) -> None:
        """Record an acceptance seen on a call (the header), unless already known."""
        user = (tenant, end_user)
        entry = self._cache.get(user)
        if entry is not None and entry[0] >= version:
            return
        await record_acceptance(self.store, tenant, end_user, version, by, self.clock())
        self._remember(user, max(version, entry[0] if entry else 0), time.monotonic())

    def _remember(self, user: tuple[str, str], version: int, now: float) -> None:
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()  # crude but bounded; active end users come back in one pass
        seconds = POSITIVE_SECONDS if version >= self.version else NEGATIVE_SECONDS
        self._cache[user] = (version, now + seconds)
