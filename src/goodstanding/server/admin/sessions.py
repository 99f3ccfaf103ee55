"""``/admin/api/sessions/revoke``: end every dashboard session of an admin token now, on every
worker (``dashboard/session.py`` checks the shared revocations on each dashboard request)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from goodstanding.errors import NotFound
from goodstanding.server.admin.common import AdminDep, Target

router = APIRouter(prefix="/sessions", tags=["sessions"])


class Revoke(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=128,
                             description="the admin token's name (default: the caller's own)")


class Revoked(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    revoked_at: float


@router.post("/revoke", response_model=Revoked,
             summary="Sign out every dashboard session of an admin token, on every worker")
async def revoke(admin: AdminDep, body: Revoke | None = None) -> dict[str, Any]:
    from goodstanding.dashboard.session import Sessions

    name = body.name if body and body.name else admin.name
    async with admin.acting("sessions.revoke", Target(detail=[f"name:{name}"])):
        sessions = Sessions(admin.gateway.settings)
        if name not in sessions.tokens:
            raise NotFound(f"No admin token is named {name!r}.", param="name")
        revoked_at = await sessions.revoke_all(admin.store, name)
    return {"name": name, "revoked_at": revoked_at}
