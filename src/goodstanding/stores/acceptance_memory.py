"""Content-policy acceptances in memory: the ``AcceptanceStore`` part of ``MemoryStore``."""

from __future__ import annotations

from goodstanding.stores.base import Acceptance


class MemoryAcceptances:
    def __init__(self) -> None:
        self.acceptances: dict[tuple[str, str], dict[int, Acceptance]] = {}

    async def record_acceptance(self, acceptance: Acceptance) -> None:
        versions = self.acceptances.setdefault((acceptance.tenant, acceptance.end_user), {})
        versions.setdefault(acceptance.version, acceptance)

    async def get_acceptance(self, tenant: str, end_user: str) -> Acceptance | None:
        versions = self.acceptances.get((tenant, end_user))
        return versions[max(versions)] if versions else None

    async def accepted_end_users(self, version: int) -> set[tuple[str, str]]:
        return {user for user, versions in self.acceptances.items() if max(versions) >= version}
