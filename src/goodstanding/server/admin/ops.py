"""``/admin/api/standing`` and ``/admin/api/alerts``: the organization's standing score and
the latest alerts, as ``goodstanding.ops`` computes and records them (read-only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from goodstanding.errors import NotFound
from goodstanding.ops import Ops
from goodstanding.ops.schemas import AlertOut, StandingOut
from goodstanding.server.admin.common import AdminDep

router = APIRouter(tags=["operations"])


def _ops(admin: AdminDep) -> Ops:
    if admin.gateway.ops is None:
        raise NotFound("This gateway computes no standing score.")
    return admin.gateway.ops


@router.get("/standing", response_model=StandingOut,
            summary="How close the organization is to an OpenAI warning (an estimate, 0-100), "
                    "with the signals, trends, drivers and recommended actions behind it")
async def standing(admin: AdminDep) -> dict[str, Any]:
    return await _ops(admin).standing()


@router.get("/alerts", response_model=list[AlertOut],
            summary="The latest alerts, newest first, with each target's delivery")
async def alerts(admin: AdminDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
                 ) -> list[dict[str, Any]]:
    return await _ops(admin).recent_alerts(limit)
