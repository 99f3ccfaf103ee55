"""Virtual keys: ``gsk-<public id>-<secret>``; only a hash of the secret is stored.

The secret is 32 random bytes, so a plain SHA-256 is enough (a password KDF protects
low-entropy secrets; this one is not). Lookups go by the public id, then the hash is compared
in constant time. Verified keys are cached in-process for a few seconds so the hot path does not
touch the database; a revoke from another process is seen within ``CACHE_SECONDS``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from goodstanding.call import VirtualKey

if TYPE_CHECKING:
    from goodstanding.stores.base import KeyStore

PREFIX = "gsk-"
CACHE_SECONDS = 2.0
_FORMAT = re.compile(r"^gsk-([a-z0-9]{12})-([A-Za-z0-9_-]{43})$")
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_ORIGIN = re.compile(r"^https?://[a-z0-9.\-\[\]:]+$")


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly made key: the only moment the full secret exists."""

    id: str
    secret: str

    @property
    def token(self) -> str:
        return f"{PREFIX}{self.id}-{self.secret}"


def new_key() -> NewKey:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    key_id = "".join(secrets.choice(alphabet) for _ in range(12))
    return NewKey(key_id, secrets.token_urlsafe(32))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    match = _FORMAT.match(token)
    return (match.group(1), match.group(2)) if match else None


def valid_tenant(name: str) -> bool:
    return bool(_TENANT.match(name))


def normalize_origin(value: str) -> str:
    """`https://App.example.com/` → `https://app.example.com`: what browsers send as `Origin`."""
    origin = value.strip().lower().rstrip("/")
    if not _ORIGIN.match(origin):
        raise ValueError(f"not an origin: {value!r} (use scheme://host[:port], e.g. "
                         "https://app.example.com)")
    return origin


def matches(key: VirtualKey, secret: str) -> bool:
    return hmac.compare_digest(key.secret_hash, hash_secret(secret))


class KeyCache:
    """Public id → (key, fetched at). Misses are cached too, so bad keys cannot flood the DB."""

    def __init__(self, seconds: float = CACHE_SECONDS, size: int = 10_000) -> None:
        self.seconds = seconds
        self.size = size
        self._entries: dict[str, tuple[VirtualKey | None, float]] = {}

    def get(self, key_id: str, now: float) -> tuple[bool, VirtualKey | None]:
        entry = self._entries.get(key_id)
        if entry is None or now - entry[1] > self.seconds:
            return False, None
        return True, entry[0]

    def put(self, key_id: str, key: VirtualKey | None, now: float) -> None:
        if len(self._entries) >= self.size:
            self._entries.clear()  # crude but bounded; the cache refills in one pass
        self._entries[key_id] = (key, now)

    def drop(self, key_id: str) -> None:
        self._entries.pop(key_id, None)


def now() -> float:
    return time.time()


async def create_key(
    store: KeyStore,
    name: str,
    *,
    rpm: int | None = None,
    tpm: int | None = None,
    upstream: str | None = None,
    tenant: str | None = None,
    trust_tier: str = "anonymous",
    policy: dict[str, Any] | None = None,
    origins: tuple[str, ...] = (),
    models: tuple[str, ...] = (),
) -> tuple[VirtualKey, str]:
    """Make and store a key; return it with the full token, which is never stored.

    `origins` and `models` limit the key (a publishable browser key): requests from another
    `Origin` or for another model are refused with 403. Empty = any."""
    tenant = tenant or name
    origins = tuple(dict.fromkeys(normalize_origin(o) for o in origins))
    models = tuple(dict.fromkeys(m.strip() for m in models if m.strip()))
    if not valid_tenant(tenant):
        raise ValueError(
            "a key name must be 1–64 letters, digits, '.', '_', ':' or '-' (it names the tenant)"
        )
    made = new_key()
    key = VirtualKey(
        id=made.id, name=name, tenant=tenant, secret_hash=hash_secret(made.secret),
        created_at=time.time(), rpm=rpm, tpm=tpm, upstream=upstream,
        policy=policy or {}, trust_tier=trust_tier, origins=origins, models=models,
    )
    await store.add_key(key)
    return key, made.token


async def revoke_key(store: KeyStore, key_id: str) -> bool:
    return await store.update_key(key_id, revoked_at=time.time())


async def rotate_key(store: KeyStore, key_id: str, grace: float) -> tuple[VirtualKey, str] | None:
    """A new key with the same tenant and policy; the old one keeps working for ``grace`` s."""
    old = await store.get_key(key_id)
    if old is None or not old.usable(time.time()):
        return None
    new = await create_key(
        store, old.name, rpm=old.rpm, tpm=old.tpm, upstream=old.upstream, tenant=old.tenant,
        trust_tier=old.trust_tier, policy=old.policy, origins=old.origins, models=old.models,
    )
    await store.update_key(key_id, expires_at=time.time() + grace)
    return new


def describe(key: VirtualKey) -> dict[str, Any]:
    """What may be shown about a key: never the secret or its hash."""
    now = time.time()
    state = "active" if key.usable(now) else ("revoked" if key.revoked_at else "expired")
    return {
        "id": key.id, "name": key.name, "tenant": key.tenant, "status": state,
        "created_at": key.created_at, "revoked_at": key.revoked_at,
        "expires_at": key.expires_at, "rpm": key.rpm, "tpm": key.tpm,
        "upstream": key.upstream, "trust_tier": key.trust_tier,
        "end_user_ip": may_set_end_user_ip(key),
        "origins": list(key.origins), "models": list(key.models),
    }


def may_set_end_user_ip(key: VirtualKey) -> bool:
    """Whether the key holder may name the end user's IP (``policy.end_user_ip``, default yes)."""
    return key.policy.get("end_user_ip", True) is not False
