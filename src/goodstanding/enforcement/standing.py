"""Where an end user stands: active, suspended until a time, or banned (SPEC §2–§3).

An end user is per tenant: ``(tenant, end_user)``. What is stored about them:

    Standing   the current status (one row per end user that ever had a strike or an action)
    Strike     one offence: when, why (reasons and categories — never text), from where
    Action     every change of status and every warning, with who did it (gateway, webhook,
               an operator's name), so an unban can be traced to a person

A standing changes only as a ``Change`` (the new standing and the action that explains it),
decided inside the store's per-end-user lock from the standing as it is at that moment
(``EndUserStore.change_standing``), so concurrent strikes act one after the other and a ban
is never overwritten by a warning decided from an older read.

The hot path only asks "may this end user call now?"; ``StandingCache`` (``stores/base.py``)
answers that from memory. Changes made in this process invalidate their entry at once; changes made elsewhere
(the CLI, another worker) are seen within ``ttl`` seconds, or at once with the shared cache
(``stores/standing_redis.py``: Redis pub/sub) behind the same methods. A read that was in
flight while an invalidation arrived is not cached (``generation``): it may predate the change.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Status = Literal["active", "suspended", "banned"]
UserKey = tuple[str, str]  # (tenant, end_user)


@dataclass(frozen=True, slots=True)
class Standing:
    tenant: str
    end_user: str
    status: Status = "active"
    # suspensions end by themselves; a ban has no end
    until: float | None = None
    reason: str | None = None
    updated_at: float = 0.0
    # strikes before this moment no longer count (set by an unban or a reset)
    forgiven_at: float | None = None

    def __post_init__(self) -> None:
        if (self.status == "suspended") != (self.until is not None):
            raise ValueError("a suspension needs its end, and only a suspension has one")

    def effective(self, now: float) -> Status:
        """The status as of ``now``: an expired suspension is simply active again."""
        if self.status == "suspended" and self.until is not None and self.until <= now:
            return "active"
        return self.status


@dataclass(frozen=True, slots=True)
class Strike:
    tenant: str
    end_user: str
    ts: float
    reason: str
    categories: tuple[str, ...] = ()
    # "request", "webhook" — where the strike came from
    source: str = "request"
    request_id: str | None = None


ActionKind = Literal["warn", "suspend", "ban", "unban", "reset"]


@dataclass(frozen=True, slots=True)
class Action:
    tenant: str
    end_user: str
    ts: float
    action: ActionKind
    by: str
    reason: str | None = None
    until: float | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """A new standing and the action record that explains it: written together or not at all."""

    standing: Standing
    action: Action


# decides, under the end user's lock, from their standing then and the strikes that count
Decide = Callable[[Standing | None, int], Change | None]


@dataclass(frozen=True, slots=True)
class Transition:
    """What ``EndUserStore.change_standing`` did: the standing it found, how many strikes
    counted (0 without a strike) and the change it wrote (None: nothing changed)."""

    before: Standing | None
    count: int
    change: Change | None

    @property
    def after(self) -> Standing | None:
        return self.change.standing if self.change is not None else self.before


class LocalStandingCache:
    """An in-process LRU with a short TTL; negative answers are cached too (most users)."""

    def __init__(self, ttl: float = 5.0, size: int = 100_000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[UserKey, tuple[float, Standing | None]] = OrderedDict()
        self.generation = 0

    def get(self, user: UserKey, now: float) -> tuple[bool, Standing | None]:
        entry = self._entries.get(user)
        if entry is None or now - entry[0] > self.ttl:
            return False, None
        return True, entry[1]

    def put(self, user: UserKey, standing: Standing | None, now: float,
            generation: int | None = None) -> None:
        if generation is not None and generation != self.generation:
            return  # read before a change this cache has since been told about
        self._entries[user] = (now, standing)
        self._entries.move_to_end(user)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def invalidate(self, user: UserKey) -> None:
        self.generation += 1
        self._entries.pop(user, None)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()

    async def changed(self, user: UserKey) -> None:
        return None
