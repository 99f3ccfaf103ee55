"""Virtual keys: ``gsk-<public id>-<secret>``; only a hash of the secret is stored.

The secret is 32 random bytes, so a plain SHA-256 is enough (a password KDF protects
low-entropy secrets; this one is not). Lookups go by the public id, then the hash is compared
in constant time. Verified keys are cached in-process for a few seconds so the hot path does not
touch the database. A revoke or rotation is announced (``announce``) and every gateway drops its
cached entry at once: over Redis pub/sub (the channel the bans use) when Redis is configured,
else through a marker file beside the SQLite database that each gateway checks at most every
``WATCH_SECONDS``. Without either (PostgreSQL and no Redis), a revoke takes up to
``CACHE_SECONDS``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goodstanding.call import VirtualKey

if TYPE_CHECKING:
    from goodstanding.credentials.keyring import Keyring
    from goodstanding.stores.base import KeyStore

PREFIX = "gsk-"
CACHE_SECONDS = 2.0
WATCH_SECONDS = 0.02
# virtual keys older than this should be rotated; `keys list` warns from WARN_BEFORE earlier
MAX_AGE = 90 * 86400.0
WARN_BEFORE = 14 * 86400.0
LIMIT_MAX = 10**12
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


def check_limit(label: str, value: int | None) -> None:
    """A key's limit is a positive whole number (or unset)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= LIMIT_MAX:
        raise ValueError(f"--{label} must be a positive whole number (got {value}); leave it "
                         "out for no per-key limit")


def unknown_upstream(name: str, keyring: Keyring) -> str:
    known = ", ".join(keyring.names) or "none configured"
    return (f"no upstream key named '{name}' in upstream.keys (known: {known}); add it to the "
            "configuration first")


def unbound_reason(keys: Iterable[VirtualKey], keyring: Keyring) -> str | None:
    """Why the gateway must not start: a usable key bound to an upstream key that is gone."""
    now = time.time()
    for key in keys:
        if key.upstream and key.usable(now) and not keyring.has(key.upstream):
            return (f"virtual key {key.id} ({key.name}) uses upstream key '{key.upstream}', "
                    "which upstream.keys no longer has: add it back, or revoke the key")
    return None


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

    def __init__(self, seconds: float = CACHE_SECONDS, size: int = 10_000,
                 marker: Path | None = None) -> None:
        self.seconds = seconds
        self.size = size
        self._entries: dict[str, tuple[VirtualKey | None, float]] = {}
        self.marker = marker  # touched by `announce`: any change drops every entry
        self._stamp = _stamp(marker) if marker else None
        self._next_watch = 0.0
        self.feed: Any = None  # the Redis listener (stores/standing_redis.py), when shared
        self.generation = 0  # moves on with every announced change

    def get(self, key_id: str, now: float) -> tuple[bool, VirtualKey | None]:
        if self.feed is not None and not self.feed.listening:
            self.feed.start()
            return False, None  # invalidations may be missed: read the database
        if self.marker is not None and now >= self._next_watch:
            self._watch(now)
        entry = self._entries.get(key_id)
        if entry is None or now - entry[1] > self.seconds:
            return False, None
        return True, entry[0]

    def put(self, key_id: str, key: VirtualKey | None, now: float,
            generation: int | None = None) -> None:
        """Cache a lookup; not when a change was announced since it began (``generation``)."""
        if generation is not None and generation != self.generation:
            return
        if len(self._entries) >= self.size:
            self._entries.clear()  # crude but bounded; the cache refills in one pass
        self._entries[key_id] = (key, now)

    def drop(self, key_id: str | None) -> None:
        """Forget one key (None: all of them)."""
        self.generation += 1
        if key_id is None:
            self._entries.clear()
        else:
            self._entries.pop(key_id, None)

    def follow(self, feed: Any) -> None:
        """Take invalidations from the shared standing listener (Redis pub/sub)."""
        self.feed = feed
        feed.key_listeners.append(self.drop)

    def _watch(self, now: float) -> None:
        self._next_watch = now + WATCH_SECONDS
        stamp = _stamp(self.marker)  # type: ignore[arg-type]
        if stamp != self._stamp:
            self._stamp = stamp
            self.drop(None)


def _stamp(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except OSError:
        return (-1, -1)
    return (stat.st_mtime_ns, stat.st_size)


def marker_path(database_url: str) -> Path | None:
    """The key-change marker beside a SQLite database (None for other databases)."""
    if not database_url.startswith("sqlite:///"):
        return None
    db = database_url[len("sqlite:///"):].split("?", 1)[0]
    return Path(db + ".keys-changed") if db and db != ":memory:" else None


KEYS_CHANNEL = "gs:keys"  # the same name as stores/standing_redis.KEYS_CHANNEL


def key_cache(database_url: str, standing: Any = None) -> KeyCache:
    """The gateway's key cache, told of revocations by whatever this deployment shares."""
    cache = KeyCache(marker=marker_path(database_url))
    if hasattr(standing, "key_listeners"):
        cache.follow(standing)
    return cache


async def announce(key_id: str, database_url: str, redis_url: str | None) -> str:
    """Tell running gateways that a key changed (revoked, rotated); how, for the message."""
    marker = marker_path(database_url)
    if marker is not None:
        with marker.open("a") as out:  # the size changes even where mtime is coarse
            out.write(f"{key_id}\n")
        # a gateway looks at the marker at most every WATCH_SECONDS: once that has passed since
        # the write, every call it takes after this returns sees the change ("at once" is true
        # when the command returns, not 20 ms later)
        await asyncio.sleep(WATCH_SECONDS * 1.5)
    if redis_url:
        from goodstanding.stores import redis as shared

        client = shared.connect(redis_url)
        try:
            await client.publish(KEYS_CHANNEL, key_id.encode())
        except shared.errors():
            return "Redis is unreachable: running gateways apply it within " \
                   f"{CACHE_SECONDS:g} s"
        finally:
            await client.aclose()
        return "every gateway applies it at once"
    if marker is not None:
        return "every gateway on this host applies it at once"
    return f"running gateways apply it within {CACHE_SECONDS:g} s (set a Redis URL for at once)"


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
    keyring: Keyring | None = None,
) -> tuple[VirtualKey, str]:
    """Make and store a key; return it with the full token, which is never stored.

    `origins` and `models` limit the key (a publishable browser key): requests from another
    `Origin` or for another model are refused with 403. Empty = any."""
    tenant = tenant or name
    for label, value in (("rpm", rpm), ("tpm", tpm)):
        check_limit(label, value)
    if upstream is not None and keyring is not None and not keyring.has(upstream):
        raise ValueError(unknown_upstream(upstream, keyring))
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
    """A new key with the same tenant and policy; the old one keeps working for exactly
    ``grace`` seconds (its ``expires_at``), then is refused with ``invalid_api_key``."""
    old = await store.get_key(key_id)
    if old is None or not old.usable(time.time()):
        return None
    if grace < 0:
        raise ValueError("the grace period cannot be negative")
    new = await create_key(
        store, old.name, rpm=old.rpm, tpm=old.tpm, upstream=old.upstream, tenant=old.tenant,
        trust_tier=old.trust_tier, policy=old.policy, origins=old.origins, models=old.models,
    )
    expires = time.time() + grace
    if old.expires_at is not None:
        expires = min(expires, old.expires_at)  # a rotation never lengthens a grace
    await store.update_key(key_id, expires_at=expires)
    return new


def status(key: VirtualKey, now: float) -> str:
    """active | grace (rotated, still working until expires_at) | revoked | expired."""
    if key.usable(now):
        return "grace" if key.expires_at is not None else "active"
    if key.revoked_at is not None and key.revoked_at <= now:
        return "revoked"
    return "expired"


def describe(
    key: VirtualKey, *, now: float | None = None, last_used_at: float | None = None,
    max_age: float = MAX_AGE, warn_before: float = WARN_BEFORE,
) -> dict[str, Any]:
    """What may be shown about a key (CLI and admin API): never the secret or its hash.

    ``rotation_age`` is the secret's age in seconds; ``nearing_rotation`` is true from
    ``warn_before`` before ``max_age`` (and after); ``grace_expires_at`` is set while a rotated
    key still works."""
    now = time.time() if now is None else now
    state = status(key, now)
    age = max(0.0, now - key.created_at)
    usable = state in ("active", "grace")
    return {
        "id": key.id, "name": key.name, "tenant": key.tenant, "status": state,
        "created_at": key.created_at, "revoked_at": key.revoked_at,
        "expires_at": key.expires_at, "rpm": key.rpm, "tpm": key.tpm,
        "limits": {"rpm": key.rpm, "tpm": key.tpm},
        "upstream": key.upstream, "trust_tier": key.trust_tier, "tier": key.trust_tier,
        "end_user_ip": may_set_end_user_ip(key),
        "origins": list(key.origins), "models": list(key.models),
        "last_used_at": last_used_at,
        "rotation_age": age,
        "rotation_due_at": key.created_at + max_age,
        "nearing_rotation": usable and state != "grace" and age >= max_age - warn_before,
        "grace_expires_at": key.expires_at if state == "grace" else None,
    }


async def describe_all(
    store: Any, *, max_age: float = MAX_AGE, warn_before: float = WARN_BEFORE,
) -> list[dict[str, Any]]:
    """Every key described, with its last use read from the audit log."""
    now = time.time()
    rows = []
    for key in await store.list_keys():
        last = await store.query_audit(key_id=key.id, limit=1)
        rows.append(describe(key, now=now, last_used_at=last[0]["ts"] if last else None,
                             max_age=max_age, warn_before=warn_before))
    return rows


def may_set_end_user_ip(key: VirtualKey) -> bool:
    """Whether the key holder may name the end user's IP (``policy.end_user_ip``, default yes)."""
    return key.policy.get("end_user_ip", True) is not False
