"""``/admin/api/users/{end_user}/signals`` and ``/admin/api/keys/{key_id}/signals``: every
abuse and standing signal one end user or key drove (counts from the standing store), and
what this process's detectors hold on it now (distillation evidence, a key's home
countries): counts, shares and hashes, never text."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from goodstanding.checks.distillation import DistillationCheck
from goodstanding.checks.key_fanout import KeyFanoutCheck
from goodstanding.errors import NotFound
from goodstanding.ops.signals_view import driver_signals, end_user_driver, key_driver
from goodstanding.server.admin.common import AdminDep, end_user_id, tenant_of
from goodstanding.server.admin.keys import KeyId
from goodstanding.server.admin.users import EndUserId, TenantQuery

router = APIRouter(tags=["signals"])


class SignalCount(BaseModel):
    signal: str = Field(description="the signal's name (reasons on the audit record start so)")
    title: str
    last_hour: int = Field(ge=0, description="events this hour and the one before")
    last_24h: int = Field(ge=0)


class SignalsOut(BaseModel):
    kind: str = Field(description="end_user or key")
    id: str
    tenant: str | None = None
    signals: list[SignalCount]
    detectors: dict[str, Any] = Field(
        description="what this gateway process's detectors hold now (per process)")


def _check(admin: AdminDep, kind: type) -> Any:
    for check in admin.gateway.pipeline.checks:
        if isinstance(check, kind):
            return check
    return None


async def _counts(admin: AdminDep, driver: str) -> list[dict[str, Any]]:
    ops = admin.gateway.ops
    if ops is None:
        raise NotFound("This gateway counts no signals.")
    return await driver_signals(ops.counts, driver, time.time())


@router.get("/users/{end_user:path}/signals", response_model=SignalsOut,
            summary="An end user's abuse and standing signals, with the detectors' evidence")
async def user_signals(admin: AdminDep, end_user: EndUserId, tenant: TenantQuery = None
                       ) -> dict[str, Any]:
    user = end_user_id(end_user)
    owner = await tenant_of(admin.store, tenant)
    detectors: dict[str, Any] = {}
    distillation = _check(admin, DistillationCheck)
    if distillation is not None:
        detectors["distillation"] = distillation.detector.evidence(f"u:{owner}\n{user}")
    return {"kind": "end_user", "id": user, "tenant": owner, "detectors": detectors,
            "signals": await _counts(admin, end_user_driver(owner, user))}


@router.get("/keys/{key_id}/signals", response_model=SignalsOut,
            summary="A key's abuse and standing signals, with the detectors' evidence")
async def key_signals(admin: AdminDep, key_id: KeyId) -> dict[str, Any]:
    key = await admin.store.get_key(key_id)
    if key is None:
        raise NotFound(f"No key with id {key_id}.", param="key_id")
    detectors: dict[str, Any] = {}
    distillation = _check(admin, DistillationCheck)
    if distillation is not None:
        detectors["distillation"] = distillation.detector.evidence(f"k:{key.id}")
    fanout = _check(admin, KeyFanoutCheck)
    if fanout is not None and fanout.fanout.homes is not None:
        detectors["home_countries"] = fanout.fanout.homes.countries(key.id)
    return {"kind": "key", "id": key.id, "tenant": key.tenant, "detectors": detectors,
            "signals": await _counts(admin, key_driver(key.id))}
