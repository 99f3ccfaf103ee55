"""An in-process store: for unit tests and throwaway runs (``memory://``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from goodstanding.call import VirtualKey
from goodstanding.stores.acceptance_memory import MemoryAcceptances
from goodstanding.stores.admin_memory import MemoryAdminQueries, has_category
from goodstanding.stores.base import Identity
from goodstanding.stores.endusers_memory import MemoryEndUsers
from goodstanding.stores.incidents_memory import MemoryIncidents
from goodstanding.stores.upstream_memory import MemoryUpstreamKeys
from goodstanding.stores.withheld_memory import MemoryWithheld


class MemoryStore(MemoryEndUsers, MemoryAcceptances, MemoryAdminQueries, MemoryUpstreamKeys,
                  MemoryIncidents, MemoryWithheld):
    def __init__(self) -> None:
        MemoryEndUsers.__init__(self)
        MemoryAcceptances.__init__(self)
        MemoryIncidents.__init__(self)
        MemoryWithheld.__init__(self)
        self.keys: dict[str, VirtualKey] = {}
        self.identities: dict[str, Identity] = {}
        self.audit: list[dict[str, Any]] = []
        self.dead: list[dict[str, Any]] = []
        self.rotations: dict[str, dict[str, Any]] = {}

    async def migrate(self) -> None:
        return None

    async def schema_behind(self) -> str | None:
        return None

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def add_key(self, key: VirtualKey) -> None:
        self.keys[key.id] = key

    async def get_key(self, key_id: str) -> VirtualKey | None:
        return self.keys.get(key_id)

    async def list_keys(self) -> list[VirtualKey]:
        return sorted(self.keys.values(), key=lambda k: k.created_at)

    async def update_key(self, key_id: str, **fields: Any) -> bool:
        if key_id not in self.keys:
            return False
        self.keys[key_id] = dataclasses.replace(self.keys[key_id], **fields)
        return True

    async def remember_identities(self, identities: Sequence[Identity]) -> None:
        for identity in identities:
            self.identities.setdefault(identity.safety_identifier, identity)

    async def lookup_identity(self, safety_identifier: str) -> Identity | None:
        return self.identities.get(safety_identifier)

    async def find_identities(self, prefix: str, limit: int) -> list[Identity]:
        return sorted((i for sid, i in self.identities.items() if sid.startswith(prefix)),
                      key=lambda i: i.safety_identifier)[:limit]

    async def write_audit(self, records: Sequence[dict[str, Any]]) -> None:
        for record in records:
            self.audit.append({"id": len(self.audit) + 1, **record})

    async def set_aside(self, letters: Sequence[dict[str, Any]]) -> None:
        for letter in letters:
            self.dead.append({"id": len(self.dead) + 1, **letter})

    async def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        return list(reversed(self.dead))[:limit]

    async def query_audit(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        end_user: str | None = None,
        key_id: str | None = None,
        decision: str | None = None,
        limit: int = 100,
        tenant: str | None = None,
        endpoint: str | None = None,
        category: str | None = None,
        request_id: str | None = None,
        before_id: int | None = None,
    ) -> list[dict[str, Any]]:
        wanted = {"end_user": end_user, "key_id": key_id, "decision": decision,
                  "tenant": tenant, "endpoint": endpoint, "request_id": request_id}
        rows = [
            r for r in reversed(self.audit)
            if all(v is None or r.get(k) == v for k, v in wanted.items())
            and (since is None or r["ts"] >= since)
            and (until is None or r["ts"] < until)
            and (before_id is None or r["id"] < before_id)
            and (category is None or has_category(r.get("reasons"), category))
        ]
        return rows[:limit]
