"""The storage interfaces: a handful of methods each (STYLE 7).

``Store`` is what the gateway holds; each backend implements all of it. Later features add
their own small interfaces here (end users and strikes, counters) rather than growing these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from goodstanding.call import VirtualKey
from goodstanding.standing import Action, Decide, Standing, Strike, Transition


@dataclass(frozen=True, slots=True)
class Identity:
    safety_identifier: str
    tenant: str
    end_user: str
    first_seen: float


@dataclass(frozen=True, slots=True)
class Acceptance:
    """An end user's acceptance of one version of the content policy (``policy/``)."""

    tenant: str
    end_user: str
    version: int
    accepted_at: float
    by: str  # "key:<id>" (the key holder's header), "cli:<operator>", "admin:<token name>"


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


class DeadLetterStore(Protocol):
    """Records the database refused (a poison value), set aside so that they block no other."""

    async def set_aside(self, letters: Sequence[dict[str, Any]]) -> None:
        """Store rows of ``schema.audit_dead_letters`` (ts, kind, request_id, error, record)."""

    async def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]: ...


class EndUserStore(Protocol):
    """Strikes, status and the history of actions per (tenant, end user)."""

    async def get_standing(self, tenant: str, end_user: str) -> Standing | None: ...

    async def change_standing(
        self, tenant: str, end_user: str, decide: Decide, strike: Strike | None = None,
        window: float = 0.0,
    ) -> Transition:
        """The one way a standing changes, atomic per (tenant, end user) across every process
        sharing the store: under the end user's lock, read their standing, store ``strike``
        (if any) and count their strikes at or after ``max(strike.ts - window, forgiven_at)``,
        call ``decide(standing, count)``, and write the change it returns (standing + action)
        in the same transaction. Concurrent calls therefore act exactly as if one after the
        other, each deciding from what the previous one wrote."""

    async def set_standing(self, standing: Standing, action: Action) -> None:
        """Write the status and append the action, whatever the status was (tests, imports):
        ``change_standing`` with a decision that ignores the current standing."""

    async def list_standings(
        self, *, tenant: str | None = None, status: str | None = None, limit: int = 1000
    ) -> list[Standing]: ...

    async def strikes_of(self, tenant: str, end_user: str) -> list[Strike]: ...

    async def clear_strikes(self, tenant: str, end_user: str) -> int: ...

    async def record_action(self, action: Action) -> None: ...

    async def actions_of(self, tenant: str, end_user: str) -> list[Action]:
        """In the order they were taken (which is not always the order of their ``ts``)."""


class AcceptanceStore(Protocol):
    """Which version of the content policy each (tenant, end user) accepted, and when."""

    async def record_acceptance(self, acceptance: Acceptance) -> None:
        """Store it; accepting a version already accepted keeps the first time."""

    async def get_acceptance(self, tenant: str, end_user: str) -> Acceptance | None:
        """The highest version the end user accepted (None: none yet)."""

    async def accepted_end_users(self, version: int) -> set[tuple[str, str]]:
        """Every (tenant, end user) who accepted ``version`` or a later one (reports)."""


class WebhookStore(Protocol):
    """Webhook ids already acted on, so a replayed delivery does nothing."""

    async def claim_webhook(self, webhook_id: str, received_at: float) -> bool:
        """True when the id is new (and is now claimed); False for a replay."""

    async def release_webhook(self, webhook_id: str) -> None:
        """Forget a claim whose processing failed, so the sender's retry is acted on."""


class Store(KeyStore, IdentityStore, AuditStore, DeadLetterStore, EndUserStore, WebhookStore,
            AcceptanceStore, Protocol):
    async def migrate(self) -> None: ...

    async def schema_behind(self) -> str | None:
        """Why the schema is not at head (None when it is): serve refuses to start then."""

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
