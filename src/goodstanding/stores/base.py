"""The storage interfaces: a handful of methods each (STYLE 7).

``Store`` is what the gateway holds; each backend implements all of it. Later features add
their own small interfaces here (end users and strikes, counters, caches) rather than growing
these: every storage interface of the gateway is in this one module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from goodstanding.call import VirtualKey
from goodstanding.enforcement.standing import Action, Decide, Standing, Strike, Transition

if TYPE_CHECKING:
    from goodstanding.enforcement.standing import UserKey
    from goodstanding.limits.ratelimit import Admission, Limit, Reservation
    from goodstanding.moderation.scored import Scored
    from goodstanding.ops.counts import Batch


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

    async def find_identities(self, prefix: str, limit: int) -> list[Identity]:
        """At most ``limit`` identities whose safety identifier starts with ``prefix`` (a
        lower-case hex string: no pattern characters)."""
        ...


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
        tenant: str | None = None,
        endpoint: str | None = None,
        category: str | None = None,
        request_id: str | None = None,
        before_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first (by id). ``category`` matches a reason ending in ``:<category>``
        (``moderation:violence``, ``detect:violence``); ``before_id`` is the cursor of the
        next page (the last id seen)."""


@dataclass(frozen=True, slots=True)
class EndUserQuery:
    """Which end users to list: everyone seen through the gateway or with a standing."""

    now: float
    # strikes at or after this (and after the end user's forgiveness) count
    window_start: float
    tenant: str | None = None
    end_user: str | None = None  # this one end user only
    status: str | None = None  # effective: an expired suspension is "active"
    min_strikes: int = 0
    seen_since: float | None = None
    seen_until: float | None = None
    after: tuple[str, str] | None = None  # (tenant, end user) of the previous page's last row
    limit: int = 100


@dataclass(frozen=True, slots=True)
class EndUserRow:
    tenant: str
    end_user: str
    status: str
    until: float | None
    reason: str | None
    updated_at: float | None
    strikes: int  # counting now
    strikes_total: int
    first_seen: float | None
    last_seen: float | None  # the last proxied call (admin actions aside)


# the decision of an enforcement webhook's record; one that names an upstream key's project
# counts in that key's standing (``upstream_counts``)
WEBHOOK = "webhook"

USAGE_GROUPS = ("key", "model", "end_user", "tenant", "endpoint", "day")


class AdminQueryStore(Protocol):
    """The few aggregate reads the admin API needs (``server/admin``), off the hot path."""

    async def list_end_users(self, query: EndUserQuery) -> list[EndUserRow]:
        """Ordered by (tenant, end user)."""

    async def usage(
        self, *, since: float | None, until: float | None, group_by: Sequence[str],
        tenant: str | None = None, limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Proxied calls (admin actions aside) grouped by ``group_by`` (names from
        ``USAGE_GROUPS``; ``day`` is the UTC day number, ts // 86400): ``requests``,
        ``tokens_in``, ``tokens_out``, ``refusals``, ``flagged``; most requests first."""

    async def last_used(self, key_ids: Sequence[str]) -> dict[str, float]:
        """Key id → time of its last proxied call (keys never used are absent)."""

    async def upstream_counts(self, starts: Sequence[float], limit: int = 10_000
                              ) -> list[dict[str, Any]]:
        """Keyed proxied calls, and enforcement webhooks that name an upstream key's project
        (decision ``WEBHOOK``), since ``min(starts)`` grouped by (``upstream``, ``decision``,
        ``status``, ``reasons``): per group, ``calls``, ``tokens_in`` and ``tokens_out`` as
        lists, one figure per start (the calls at or after it). ``upstream`` is the record's
        (``default`` for upstream.key); records older than migration 0011 take their key's
        current binding."""


class RotationLockStore(Protocol):
    """The scheduled upstream rotation's claim: one rotator per upstream key at a time."""

    async def claim_rotation(self, name: str, holder: str, now: float, lease: float) -> bool:
        """Claim ``name`` for ``lease`` seconds unless another holder's claim is still live;
        whether this holder has it now."""

    async def release_rotation(self, name: str, holder: str, rotated_at: float | None) -> None:
        """End this holder's claim (``rotated_at``: when it rotated, None: it did not)."""


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


@dataclass(frozen=True, slots=True)
class IncidentNote:
    """What an operator recorded about an incident (``incidents/``): it resolves it."""

    incident_id: str
    at: float
    by: str
    note: str


class IncidentStore(Protocol):
    """The audit records incidents are made of, and operators' notes on them (off the hot
    path: the admin API, the dashboard, the CLI, the report)."""

    async def query_trouble(self, *, since: float | None = None, until: float | None = None,
                            limit: int = 1000, before_id: int | None = None
                            ) -> list[dict[str, Any]]:
        """Audit records that may belong to an incident (a superset: moderation, store or
        upstream unavailable, upstream errors, enforcement webhooks, alerts), newest first
        by id; ``incidents.classify`` decides."""

    async def add_incident_note(self, note: IncidentNote) -> None: ...

    async def incident_notes(self, since: float | None = None) -> list[IncidentNote]:
        """Every note recorded at or after ``since``, oldest first."""


class SessionStore(Protocol):
    """Dashboard sessions ended before their expiry, shared by every worker (dashboard/)."""

    async def revoke_sessions(self, scope: str, revoked_at: float, expires_at: float) -> None:
        """Record (or move forward) the revocation of ``scope``; prunes expired rows."""

    async def session_revocations(self, scopes: Sequence[str]) -> dict[str, float]:
        """Scope -> revoked_at, for those of ``scopes`` that are revoked."""


class WithheldStore(Protocol):
    """Ids of Responses answers the gateway withheld (``checks/continuation.py``), shared by
    every process: the hot path reads it only for a call that names a stored response or
    conversation."""

    async def remember_withheld(self, ids: Mapping[str, float], now: float) -> None:
        """Remember each id until its expiry (id -> expires_at; a later expiry replaces an
        earlier one); prunes the rows expired at ``now``."""

    async def withheld_among(self, ids: Sequence[str], now: float) -> set[str]:
        """Those of ``ids`` remembered and not expired at ``now``."""


class Store(KeyStore, IdentityStore, AuditStore, DeadLetterStore, EndUserStore, WebhookStore,
            AdminQueryStore, AcceptanceStore, RotationLockStore, IncidentStore, SessionStore,
            WithheldStore, Protocol):
    async def migrate(self) -> None: ...

    async def schema_behind(self) -> str | None:
        """Why the schema is not at head (None when it is): serve refuses to start then."""

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


# The counters and caches behind the checks: each has a memory and a Redis backend.


class CounterStore(Protocol):
    """Counters shared by every request of a gateway (in-process, or Redis across processes)."""

    async def acquire(self, limits: tuple[Limit, ...], tokens: int, now: float) -> Admission:
        """Count 1 request in each request limit and ``tokens`` in each token limit — in all
        of them if every one has room, else in none (then ``denied`` names the first full one).
        """
        ...

    async def settle(self, reservation: Reservation, actual: int, now: float) -> None:
        """Replace a reservation by the actual usage (no-op once it has left the window)."""
        ...

    async def distinct(self, key: str, member: str, now: float, window: float) -> int:
        """Note ``member`` under ``key``; how many distinct members were seen within ``window``."""
        ...

    async def close(self) -> None: ...


class StandingCache(Protocol):
    """What the standing check reads; ``Standing | None`` (None = never had a strike).

    ``generation`` moves on with every invalidation: a caller takes it before reading the
    store and hands it to ``put``, which drops the answer if an invalidation came in between
    (the read may predate the change, and would otherwise be served for ``ttl`` seconds)."""

    @property
    def generation(self) -> int: ...

    def get(self, user: UserKey, now: float) -> tuple[bool, Standing | None]: ...

    def put(self, user: UserKey, standing: Standing | None, now: float,
            generation: int | None = None) -> None: ...

    def invalidate(self, user: UserKey) -> None: ...

    async def changed(self, user: UserKey) -> None:
        """Announce a committed change to the other processes (in-process: nothing to do)."""


class VerdictCache(Protocol):
    async def get_many(self, keys: Sequence[bytes]) -> list[Scored | None]: ...

    async def put_many(self, items: Sequence[tuple[bytes, Scored]]) -> None: ...


class Counts(Protocol):
    async def add(self, batch: Batch, ttls: Mapping[str, float], now: float) -> None: ...

    async def read(self, keys: list[str], now: float) -> list[dict[str, int]]: ...

    async def claim(self, key: str, seconds: float, now: float) -> bool: ...

    async def close(self) -> None: ...
