"""End users, strikes and webhook ids in memory: the ``EndUserStore`` half of ``MemoryStore``.

``change_standing`` is atomic because it never awaits between reading the standing and
writing the change: on the one event loop that owns this store, nothing else runs in between.
"""

from __future__ import annotations

from goodstanding.enforcement.standing import (
    Action,
    Change,
    Decide,
    Standing,
    Strike,
    Transition,
    UserKey,
)


class MemoryEndUsers:
    def __init__(self) -> None:
        self.standings: dict[UserKey, Standing] = {}
        self.strikes: dict[UserKey, list[Strike]] = {}
        self.actions: dict[UserKey, list[Action]] = {}
        self.webhooks: dict[str, float] = {}

    async def get_standing(self, tenant: str, end_user: str) -> Standing | None:
        return self.standings.get((tenant, end_user))

    async def change_standing(
        self, tenant: str, end_user: str, decide: Decide, strike: Strike | None = None,
        window: float = 0.0,
    ) -> Transition:
        user = (tenant, end_user)
        before = self.standings.get(user)
        count = 0
        if strike is not None:
            since = strike.ts - window
            if before is not None and before.forgiven_at is not None:
                since = max(since, before.forgiven_at)
            strikes = self.strikes.setdefault(user, [])
            strikes.append(strike)
            count = sum(1 for s in strikes if s.ts >= since)
        change = decide(before, count)
        if change is not None:
            self.standings[user] = change.standing
            self.actions.setdefault(user, []).append(change.action)
        return Transition(before, count, change)

    async def set_standing(self, standing: Standing, action: Action) -> None:
        await self.change_standing(standing.tenant, standing.end_user,
                                   lambda _, __: Change(standing, action))

    async def list_standings(
        self, *, tenant: str | None = None, status: str | None = None, limit: int = 1000
    ) -> list[Standing]:
        rows = [
            s for s in self.standings.values()
            if (tenant is None or s.tenant == tenant) and (status is None or s.status == status)
        ]
        rows.sort(key=lambda s: s.updated_at, reverse=True)
        return rows[:limit]

    async def strikes_of(self, tenant: str, end_user: str) -> list[Strike]:
        return sorted(self.strikes.get((tenant, end_user), []), key=lambda s: s.ts)

    async def clear_strikes(self, tenant: str, end_user: str) -> int:
        return len(self.strikes.pop((tenant, end_user), []))

    async def actions_of(self, tenant: str, end_user: str) -> list[Action]:
        return list(self.actions.get((tenant, end_user), []))  # in the order taken

    async def claim_webhook(self, webhook_id: str, received_at: float) -> bool:
        if webhook_id in self.webhooks:
            return False
        self.webhooks[webhook_id] = received_at
        return True

    async def release_webhook(self, webhook_id: str) -> None:
        self.webhooks.pop(webhook_id, None)
