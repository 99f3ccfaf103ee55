"""End users, strikes and webhook ids in memory: the ``EndUserStore`` half of ``MemoryStore``."""

from __future__ import annotations

from goodstanding.standing import Action, Standing, Strike, UserKey


class MemoryEndUsers:
    def __init__(self) -> None:
        self.standings: dict[UserKey, Standing] = {}
        self.strikes: dict[UserKey, list[Strike]] = {}
        self.actions: dict[UserKey, list[Action]] = {}
        self.webhooks: dict[str, float] = {}

    async def get_standing(self, tenant: str, end_user: str) -> Standing | None:
        return self.standings.get((tenant, end_user))

    async def set_standing(self, standing: Standing, action: Action) -> None:
        self.standings[(standing.tenant, standing.end_user)] = standing
        await self.record_action(action)

    async def list_standings(
        self, *, tenant: str | None = None, status: str | None = None, limit: int = 1000
    ) -> list[Standing]:
        rows = [
            s for s in self.standings.values()
            if (tenant is None or s.tenant == tenant) and (status is None or s.status == status)
        ]
        rows.sort(key=lambda s: s.updated_at, reverse=True)
        return rows[:limit]

    async def add_strike(self, strike: Strike, since: float) -> int:
        strikes = self.strikes.setdefault((strike.tenant, strike.end_user), [])
        strikes.append(strike)
        return sum(1 for s in strikes if s.ts >= since)

    async def strikes_of(self, tenant: str, end_user: str) -> list[Strike]:
        return sorted(self.strikes.get((tenant, end_user), []), key=lambda s: s.ts)

    async def clear_strikes(self, tenant: str, end_user: str) -> int:
        return len(self.strikes.pop((tenant, end_user), []))

    async def record_action(self, action: Action) -> None:
        self.actions.setdefault((action.tenant, action.end_user), []).append(action)

    async def actions_of(self, tenant: str, end_user: str) -> list[Action]:
        return sorted(self.actions.get((tenant, end_user), []), key=lambda a: a.ts)

    async def claim_webhook(self, webhook_id: str, received_at: float) -> bool:
        if webhook_id in self.webhooks:
            return False
        self.webhooks[webhook_id] = received_at
        return True

    async def release_webhook(self, webhook_id: str) -> None:
        self.webhooks.pop(webhook_id, None)
