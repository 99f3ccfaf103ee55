"""``/admin/api/users``: end users — list with filters, show (standing, strike history with
reasons and categories, never text, and the actions with who took them), ban, suspend, unban,
reset — and ``/admin/api/safety-identifiers/{id}``: the end user behind a safety identifier.

End users belong to a tenant (the name of the key they came through): ``tenant`` names it and
may be left out while there is only one. Ids are canonicalised as the gateway does it, so any
spelling names the one end user. Changes go through the gateway's ``Enforcer``: they apply at
once in this process and reach the others as the CLI's do.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from goodstanding.endusers.identity import AmbiguousIdentifier, find_identity, stored_end_user
from goodstanding.enforcement.enforcer import StrikePolicy
from goodstanding.errors import InvalidRequest, NotFound
from goodstanding.policy.acceptance import record_acceptance
from goodstanding.server.admin.common import (
    AdminDep,
    Target,
    decode_cursor,
    encode_cursor,
    end_user_id,
    tenant_of,
)
from goodstanding.settings import parse_duration
from goodstanding.stores.base import EndUserQuery, EndUserRow

router = APIRouter(prefix="/users", tags=["end users"])
identities = APIRouter(prefix="/safety-identifiers", tags=["end users"])

EndUserId = Annotated[str, Path(min_length=1, max_length=1024,
                                description="the end-user id the application sends")]
TenantQuery = Annotated[str | None, Query(max_length=64, description="the tenant (key name); "
                                          "needed when there are several")]
Status = Literal["active", "suspended", "banned"]
Time = Annotated[float | None, Query(ge=0, le=1e11, description="Unix time, seconds")]


class EndUserOut(BaseModel):
    tenant: str
    end_user: str
    status: Status
    until: float | None = Field(description="end of a suspension")
    reason: str | None
    updated_at: float | None
    strikes: int = Field(description="strikes counting now (within the window, since the "
                                     "last unban or reset)")
    strikes_total: int
    first_seen: float | None
    last_seen: float | None = Field(description="the end user's last call")


class EndUserPage(BaseModel):
    data: list[EndUserOut]
    next_cursor: str | None
    has_more: bool


class StrikeOut(BaseModel):
    ts: float
    reason: str
    categories: list[str]
    source: str
    request_id: str | None


class ActionOut(BaseModel):
    ts: float
    action: str
    by: str = Field(description="who took it: gateway, webhook, or an admin token's name")
    reason: str | None
    until: float | None


class PolicyAccepted(BaseModel):
    version: int = Field(description="the highest content-policy version the end user accepted")
    accepted_at: float
    by: str


class EndUserDetail(EndUserOut):
    strike_history: list[StrikeOut]
    actions: list[ActionOut]
    policy_accepted: PolicyAccepted | None = Field(
        description="the content policy version accepted (null: none yet; policy.version is "
                    "the one in force)")


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=200)


class Suspension(Reason):
    duration: str | float = Field(default="24h", description="seconds or 30m, 24h, 7d")


class ResetOut(BaseModel):
    tenant: str
    end_user: str
    status: Status
    strikes_removed: int


class AcceptanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, ge=1, le=1_000_000,
                                description="default: the version in force (policy.version)")


class AcceptanceOut(BaseModel):
    tenant: str
    end_user: str
    version: int
    accepted_at: float
    by: str = Field(description="admin:<the admin token's name>")


class IdentityOut(BaseModel):
    safety_identifier: str
    tenant: str
    end_user: str
    first_seen: float


def _window(admin: AdminDep, now: float) -> float:
    return now - StrikePolicy.of(admin.gateway.settings.strikes).window


def _user(row: EndUserRow) -> dict[str, Any]:
    return {"tenant": row.tenant, "end_user": row.end_user, "status": row.status,
            "until": row.until if row.status == "suspended" else None, "reason": row.reason,
            "updated_at": row.updated_at, "strikes": row.strikes,
            "strikes_total": row.strikes_total, "first_seen": row.first_seen,
            "last_seen": row.last_seen}


@router.get("", response_model=EndUserPage, summary="List end users")
async def list_users(
    admin: AdminDep,
    tenant: TenantQuery = None,
    status: Annotated[Status | None, Query()] = None,
    min_strikes: Annotated[int, Query(ge=0, le=1_000_000, description="strikes counting "
                                      "now, at least")] = 0,
    seen_since: Time = None,
    seen_until: Time = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> dict[str, Any]:
    now = time.time()
    after = _after(cursor) if cursor else None
    rows = await admin.store.list_end_users(EndUserQuery(
        now=now, window_start=_window(admin, now), tenant=tenant, status=status,
        min_strikes=min_strikes, seen_since=seen_since, seen_until=seen_until, after=after,
        limit=limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows and more else None
    return {"data": [_user(r) for r in rows], "has_more": more,
            "next_cursor": encode_cursor([last.tenant, last.end_user]) if last else None}


def _after(cursor: str) -> tuple[str, str]:
    value = decode_cursor(cursor)
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str)
                                                                for v in value)):
        value = decode_cursor("!")  # raises: not one of ours
    return value[0], value[1]


async def _detail(admin: AdminDep, tenant: str, end_user: str) -> dict[str, Any]:
    store = admin.store
    now = time.time()
    rows = await store.list_end_users(EndUserQuery(
        now=now, window_start=_window(admin, now), tenant=tenant, end_user=end_user, limit=1))
    if not rows:
        raise NotFound(f"No end user {end_user!r} of tenant {tenant!r} is known.",
                       param="end_user")
    strikes = await store.strikes_of(tenant, end_user)
    actions = await store.actions_of(tenant, end_user)
    accepted = await store.get_acceptance(tenant, end_user)
    return {
        "policy_accepted": None if accepted is None else {
            "version": accepted.version, "accepted_at": accepted.accepted_at,
            "by": accepted.by},
        **_user(rows[0]),
        # reasons and categories only: the gateway never stores what the user wrote
        "strike_history": [{"ts": s.ts, "reason": s.reason, "categories": list(s.categories),
                            "source": s.source, "request_id": s.request_id} for s in strikes],
        "actions": [{"ts": a.ts, "action": a.action, "by": a.by, "reason": a.reason,
                     "until": a.until} for a in actions],
    }


@router.get("/{end_user:path}", response_model=EndUserDetail, summary="Show an end user")
async def show_user(admin: AdminDep, end_user: EndUserId, tenant: TenantQuery = None
                    ) -> dict[str, Any]:
    user = end_user_id(end_user)
    return await _detail(admin, await tenant_of(admin.store, tenant), user)


@router.post("/{end_user:path}/ban", response_model=EndUserDetail, summary="Ban an end user now")
async def ban_user(admin: AdminDep, end_user: EndUserId, tenant: TenantQuery = None,
                   body: Reason | None = None) -> dict[str, Any]:
    user = end_user_id(end_user)
    async with admin.acting("users.ban", Target(end_user=user)) as target:
        target.tenant = await tenant_of(admin.store, tenant)
        await admin.gateway.enforcer.ban(target.tenant, user,
                                         _reason(body, "banned by an admin"), admin.name)
    return await _detail(admin, target.tenant, user)


@router.post("/{end_user:path}/suspend", response_model=EndUserDetail,
             summary="Suspend an end user for a while (never softens a ban)")
async def suspend_user(admin: AdminDep, end_user: EndUserId, tenant: TenantQuery = None,
                       body: Suspension | None = None) -> dict[str, Any]:
    user = end_user_id(end_user)
    body = body or Suspension()
    async with admin.acting("users.suspend", Target(end_user=user)) as target:
        target.tenant = await tenant_of(admin.store, tenant)
        seconds = _duration(body.duration)
        await admin.gateway.enforcer.suspend(target.tenant, user, seconds,
                                             _reason(body, "suspended by an admin"), admin.name)
    return await _detail(admin, target.tenant, user)


@router.post("/{end_user:path}/unban", response_model=EndUserDetail,
             summary="Lift a ban or suspension; earlier strikes are forgiven")
async def unban_user(admin: AdminDep, end_user: EndUserId, tenant: TenantQuery = None,
                     body: Reason | None = None) -> dict[str, Any]:
    user = end_user_id(end_user)
    async with admin.acting("users.unban", Target(end_user=user)) as target:
        target.tenant = await tenant_of(admin.store, tenant)
        standing = await admin.gateway.enforcer.unban(target.tenant, user, admin.name,
                                                      body.reason if body else None)
        if standing is None:
            raise NotFound(f"End user {user!r} of tenant {target.tenant!r} has no standing "
                           "to lift.", param="end_user")
    return await _detail(admin, target.tenant, user)


@router.post("/{end_user:path}/reset", response_model=ResetOut,
             summary="Delete an end user's strikes and make them active")
async def reset_user(admin: AdminDep, end_user: EndUserId, tenant: TenantQuery = None
                     ) -> dict[str, Any]:
    user = end_user_id(end_user)
    async with admin.acting("users.reset", Target(end_user=user)) as target:
        target.tenant = await tenant_of(admin.store, tenant)
        removed = await admin.gateway.enforcer.reset(target.tenant, user, admin.name)
        target.detail.append(f"strikes_removed:{removed}")
    return {"tenant": target.tenant, "end_user": user, "status": "active",
            "strikes_removed": removed}


@router.post("/{end_user:path}/acceptance", response_model=AcceptanceOut,
             summary="Record that an end user accepted the content policy (default: the "
                     "version in force)")
async def accept_policy(admin: AdminDep, end_user: EndUserId, tenant: TenantQuery = None,
                        body: AcceptanceIn | None = None) -> dict[str, Any]:
    user = end_user_id(end_user)
    version = body.version if body and body.version else admin.gateway.settings.policy.version
    async with admin.acting("users.acceptance", Target(end_user=user)) as target:
        target.tenant = await tenant_of(admin.store, tenant)
        target.detail.append(f"version:{version}")
        try:
            done = await record_acceptance(admin.store, target.tenant, user, version,
                                           f"admin:{admin.name}")
        except ValueError as exc:
            raise InvalidRequest(str(exc), param="version") from None
    return {"tenant": done.tenant, "end_user": done.end_user, "version": done.version,
            "accepted_at": done.accepted_at, "by": done.by}


@identities.get("/{safety_identifier}", response_model=IdentityOut,
                summary="The end user behind a safety identifier OpenAI named")
async def lookup(admin: AdminDep, safety_identifier: Annotated[str, Path(max_length=128)]
                 ) -> dict[str, Any]:
    try:
        identity = await find_identity(admin.store, safety_identifier)
    except AmbiguousIdentifier as exc:
        raise InvalidRequest(f"{str(exc).capitalize()}.", param="safety_identifier") from None
    if identity is None:
        raise NotFound("No end user is known under that safety identifier.",
                       param="safety_identifier")
    return {"safety_identifier": identity.safety_identifier, "tenant": identity.tenant,
            "end_user": stored_end_user(identity.end_user), "first_seen": identity.first_seen}


def _reason(body: Reason | None, default: str) -> str:
    return (body.reason if body and body.reason else None) or default


def _duration(value: str | float) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="duration") from None
    if not 0 < seconds <= 3650 * 86400:
        raise InvalidRequest("duration: more than 0 s and at most 10 years.", param="duration")
    return seconds
