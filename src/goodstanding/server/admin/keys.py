"""``/admin/api/keys``: create (the secret shown once), list, show, rotate with grace, revoke,
limits and per-key policy overrides. The key functions are ``goodstanding.credentials.keys``'s, as the
CLI's; a change reaches running gateways within their key cache's seconds."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from goodstanding.call import VirtualKey
from goodstanding.checks.auth import AuthCheck
from goodstanding.credentials import keys
from goodstanding.errors import InvalidRequest, NotFound
from goodstanding.moderation.per_key import unapplied
from goodstanding.server.admin.common import AdminDep, Target
from goodstanding.settings import KeyPolicy, parse_duration

router = APIRouter(prefix="/keys", tags=["keys"])

NAME = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
KeyId = Annotated[str, Path(pattern=r"^[a-z0-9]{1,32}$", description="the key's public id")]
Tier = Literal["anonymous", "verified", "kyc"]
Limit = Annotated[int | None, Field(ge=1, le=1_000_000_000)]
Origins = Annotated[list[Annotated[str, Field(max_length=256)]], Field(max_length=100)]
Models = Annotated[list[Annotated[str, Field(min_length=1, max_length=128)]],
                   Field(max_length=100)]


class KeyOut(BaseModel):
    """What may be shown about a key (never its secret or hash)."""

    model_config = ConfigDict(extra="allow")  # what keys.describe() adds shows up as it is

    id: str
    name: str
    tenant: str
    status: str
    created_at: float
    revoked_at: float | None
    expires_at: float | None
    rpm: int | None
    tpm: int | None
    upstream: str | None
    trust_tier: str
    origins: list[str]
    models: list[str]
    policy: dict[str, Any] = Field(description="per-key overrides of limits/moderation/strikes")
    last_used_at: float | None = Field(description="the last call through the key")
    rotation_age: float = Field(description="seconds since the key's secret was issued "
                                            "(created or rotated in)")
    grace_expires_at: float | None = Field(description="while a rotated-out key still works: "
                                                       "when it stops")
    rotation_due_at: float = Field(description="when the key reaches keys.max_age")
    nearing_rotation: bool = Field(description="the key is within keys.warn_before of its "
                                               "maximum age, or past it: rotate it")


class KeyCreated(KeyOut):
    key: str = Field(description="the full key: shown this once, never again")
    replaces: str | None = None


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME, description="also the tenant, unless tenant is given")
    tenant: str | None = Field(default=None, pattern=NAME)
    rpm: Limit = None
    tpm: Limit = None
    upstream: str | None = Field(default=None, max_length=64,
                                 description="a named upstream key (upstream.keys)")
    trust_tier: Tier = "anonymous"
    origins: Origins = Field(default_factory=list)
    models: Models = Field(default_factory=list)
    end_user_ip: bool = True
    policy: KeyPolicy | None = None


class KeyChange(BaseModel):
    """Only the fields sent change; null clears a limit or the upstream."""

    model_config = ConfigDict(extra="forbid")

    rpm: Limit = None
    tpm: Limit = None
    upstream: str | None = Field(default=None, max_length=64)
    trust_tier: Tier | None = None
    origins: Origins | None = None
    models: Models | None = None


class Rotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace: str | float = Field(default="24h", description="how long the old key keeps "
                                                          "working: seconds or 30s, 15m, 24h, 7d")


def _out(admin: AdminDep, key: VirtualKey, last_used: float | None, now: float
         ) -> dict[str, Any]:
    ages = admin.gateway.settings.keys
    return {**keys.describe(key, now=now, last_used_at=last_used,
                            max_age=parse_duration(ages.max_age),
                            warn_before=parse_duration(ages.warn_before)),
            "policy": key.policy}


async def _found(admin: AdminDep, key_id: str) -> VirtualKey:
    key = await admin.store.get_key(key_id)
    if key is None:
        raise NotFound(f"No key with id {key_id}.", param="key_id")
    return key


async def _shown(admin: AdminDep, key_id: str) -> dict[str, Any]:
    key = await _found(admin, key_id)
    used = await admin.store.last_used([key.id])
    return _out(admin, key, used.get(key.id), time.time())


async def _forget(admin: AdminDep, key_id: str) -> None:
    """Drop the key from this process's key cache (the change applies here at once) and
    announce it to the other gateways as ``goodstanding keys`` does (``keys.announce``)."""
    for check in admin.gateway.pipeline.checks:
        if isinstance(check, AuthCheck):
            check.cache.drop(key_id)
    storage = admin.gateway.settings.storage
    await keys.announce(key_id, storage.database_url, storage.redis_url)


def _upstream(admin: AdminDep, name: str | None) -> None:
    if name is not None and name not in admin.gateway.settings.upstream.keys:
        raise InvalidRequest(f"No upstream key named {name!r} (upstream.keys).",
                             param="upstream")


def _policy(admin: AdminDep, policy: KeyPolicy | None, end_user_ip: bool = True
            ) -> dict[str, Any]:
    document = policy.model_dump(mode="json", exclude_unset=True) if policy else {}
    # an override this gateway would not apply is a mistake to say now, not to ignore later
    reason = unapplied(admin.gateway.settings.moderation, document.get("moderation"))
    if reason is not None:
        raise InvalidRequest(reason + ".", param="policy.moderation")
    if not end_user_ip:
        document["end_user_ip"] = False
    return document


@router.get("", response_model=list[KeyOut], summary="List keys")
async def list_keys(
    admin: AdminDep,
    status: Annotated[Literal["active", "grace", "revoked", "expired"] | None, Query()] = None,
    tenant: Annotated[str | None, Query(max_length=64)] = None,
) -> list[dict[str, Any]]:
    now = time.time()
    found = [k for k in await admin.store.list_keys()
             if tenant is None or k.tenant == tenant]
    used = await admin.store.last_used([k.id for k in found])
    rows = [_out(admin, k, used.get(k.id), now) for k in found]
    return [r for r in rows if status is None or r["status"] == status]


@router.post("", response_model=KeyCreated, status_code=201, summary="Create a key")
async def create_key(admin: AdminDep, body: KeyCreate) -> dict[str, Any]:
    async with admin.acting("keys.create", Target(tenant=body.tenant or body.name),
                            201) as target:
        _upstream(admin, body.upstream)
        try:
            key, token = await keys.create_key(
                admin.store, body.name, rpm=body.rpm, tpm=body.tpm,
                upstream=body.upstream, tenant=body.tenant, trust_tier=body.trust_tier,
                policy=_policy(admin, body.policy, body.end_user_ip), origins=tuple(body.origins),
                models=tuple(body.models))
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        target.key_id = key.id
    return {**_out(admin, key, None, time.time()), "key": token}


@router.get("/{key_id}", response_model=KeyOut, summary="Show a key")
async def show_key(admin: AdminDep, key_id: KeyId) -> dict[str, Any]:
    return await _shown(admin, key_id)


@router.patch("/{key_id}", response_model=KeyOut, summary="Change a key's limits, tier, "
              "upstream, origins or models")
async def change_key(admin: AdminDep, key_id: KeyId, body: KeyChange) -> dict[str, Any]:
    async with admin.acting("keys.change", Target(key_id=key_id)) as target:
        key = await _found(admin, key_id)
        target.tenant = key.tenant
        fields = {name: getattr(body, name) for name in body.model_fields_set}
        target.detail.extend(sorted(fields))
        if "upstream" in fields:
            _upstream(admin, fields["upstream"])
        for name in ("origins", "models"):
            if name in fields:
                fields[name] = _listed(name, fields[name])
        if fields.get("trust_tier", key.trust_tier) is None:
            fields.pop("trust_tier")
        if fields:
            await admin.store.update_key(key_id, **fields)
            await _forget(admin, key_id)
    return await _shown(admin, key_id)


def _listed(name: str, values: list[str] | None) -> tuple[str, ...]:
    if name == "models":
        return tuple(dict.fromkeys(m.strip() for m in values or () if m.strip()))
    try:
        return tuple(dict.fromkeys(keys.normalize_origin(o) for o in values or ()))
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="origins") from None


@router.get("/{key_id}/policy", response_model=dict[str, Any], summary="A key's policy "
            "overrides")
async def show_policy(admin: AdminDep, key_id: KeyId) -> dict[str, Any]:
    return (await _found(admin, key_id)).policy


@router.put("/{key_id}/policy", response_model=KeyOut, summary="Replace a key's policy "
            "overrides (limits, moderation, strikes, end_user_ip)")
async def set_policy(admin: AdminDep, key_id: KeyId, body: KeyPolicy) -> dict[str, Any]:
    async with admin.acting("keys.policy", Target(key_id=key_id)) as target:
        key = await _found(admin, key_id)
        target.tenant = key.tenant
        policy = _policy(admin, body)
        target.detail.extend(sorted(policy))
        await admin.store.update_key(key_id, policy=policy)
        await _forget(admin, key_id)
    return await _shown(admin, key_id)


@router.post("/{key_id}/rotate", response_model=KeyCreated, status_code=201,
             summary="Issue a replacement; the old key keeps working for the grace period")
async def rotate_key(admin: AdminDep, key_id: KeyId, body: Rotation | None = None
                     ) -> dict[str, Any]:
    body = body or Rotation()
    async with admin.acting("keys.rotate", Target(key_id=key_id), 201) as target:
        try:
            grace = parse_duration(body.grace)
        except ValueError as exc:
            raise InvalidRequest(str(exc), param="grace") from None
        if not 0 <= grace <= 366 * 86400:
            raise InvalidRequest("grace: between 0 and 366 days.", param="grace")
        rotated = await keys.rotate_key(admin.store, key_id, grace)
        if rotated is None:
            raise NotFound(f"No active key with id {key_id}.", param="key_id")
        await _forget(admin, key_id)
        key, token = rotated
        target.tenant = key.tenant
        target.detail.append(f"replaced_by:{key.id}")
    return {**_out(admin, key, None, time.time()), "key": token, "replaces": key_id}


@router.post("/{key_id}/revoke", response_model=KeyOut, summary="Revoke a key at once")
async def revoke_key(admin: AdminDep, key_id: KeyId) -> dict[str, Any]:
    async with admin.acting("keys.revoke", Target(key_id=key_id)) as target:
        key = await _found(admin, key_id)
        target.tenant = key.tenant
        if key.revoked_at is None:
            await keys.revoke_key(admin.store, key_id)
            await _forget(admin, key_id)
    return await _shown(admin, key_id)
