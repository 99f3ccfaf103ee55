"""The storage interfaces: a handful of methods each (STYLE 7).

``Store`` is what the gateway holds; each backend implements all of it. Later features add
their own small interfaces here (end users and strikes, counters) rather than growing these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from goodstanding.call import VirtualKey


@dataclass(frozen=True, slots=True)
class Identity:
    safety_identifier: str
    tenant: str
    end_user: str
    first_seen: float


class KeyStore(Protocol):
    async def add_key(self, key: VirtualKey) -> None: ...

    async def get_key(self, key_id: str) -> VirtualKey | None: ...

    async def list_keys(self) -> list[VirtualKey]: ...

    async def update_key(self, key_id: str, **fields: Any) -> bool: ...


class IdentityStore(Protocol):
    async def remember_identities(self, identities: Sequence[Identity]) -> None: ...

    async def lookup_identity(self, safety_identifier: str) -> Identity | None: ...


class AuditStore(Protocol):
    async def write_audit(self, records: Sequence[dict[str, Any]]) -> None: ...

    async def query_audit(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        end_user: str | None = None,
        key_id: str | None = None,
        decision: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]: ...


class Store(KeyStore, IdentityStore, AuditStore, Protocol):
    async def migrate(self) -> None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
