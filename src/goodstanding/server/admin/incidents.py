"""``/admin/api/incidents``: incidents derived from the audit log (``goodstanding.incidents``)
with their resolution, and an operator's resolution of one (recorded, with who did it)."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from goodstanding.errors import InvalidRequest, NotFound
from goodstanding.incidents import UnknownIncident, alert_every, list_incidents, resolve
from goodstanding.ops.schemas import AlertOut
from goodstanding.server.admin.common import AdminDep, Target

router = APIRouter(prefix="/incidents", tags=["incidents"])

DEFAULT_SPAN = 30 * 86400
Kind = Literal["moderation_unavailable", "store_unavailable", "upstream_unavailable",
               "insufficient_quota", "enforcement_webhook", "alert"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoteOut(_Out):
    at: float
    by: str = Field(description="the admin token's name, or the CLI's --by")
    note: str = Field(description="what was changed")


class IncidentOut(_Out):
    id: str = Field(description="inc-<audit id of its first record>")
    kind: Kind
    subject: str
    title: str
    opened_at: float
    last_seen: float
    status: Literal["open", "resolved"]
    resolved_at: float | None
    resolved_by: str | None = Field(description="auto (the condition cleared) or who resolved")
    requests: int = Field(description="audit records it is made of")
    refused: int
    passed: int = Field(description="calls forwarded anyway (moderation failing open)")
    end_users: list[str]
    alerts: list[AlertOut]
    notes: list[NoteOut]


class Incidents(_Out):
    since: float
    data: list[IncidentOut]


class Resolution(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=2000, description="what was changed")


@router.get("", response_model=Incidents, summary="Incidents of a period (default: 30 days), "
            "newest first, with their resolution")
async def incidents(
    admin: AdminDep,
    since: Annotated[float | None, Query(ge=0, le=1e11, description="Unix time; default "
                                         "30 days ago")] = None,
    status: Annotated[Literal["open", "resolved"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    since = time.time() - DEFAULT_SPAN if since is None else since
    found = await list_incidents(admin.store, since, alert_every=alert_every(
        admin.gateway.settings))
    rows = [i.to_dict() for i in reversed(found) if status is None or i.status == status]
    return {"since": since, "data": rows[:limit]}


@router.post("/{incident_id}/resolve", response_model=NoteOut,
             summary="Record an incident's resolution: what was changed (resolves it)")
async def resolve_incident(
    admin: AdminDep, incident_id: Annotated[str, Path(max_length=40)], body: Resolution
) -> dict[str, Any]:
    async with admin.acting("incidents.resolve", Target(detail=[incident_id[:40]])):
        try:
            note = await resolve(admin.store, incident_id, admin.name, body.note)
        except UnknownIncident as exc:
            raise NotFound(f"{str(exc).capitalize()}.", param="incident_id") from None
        except ValueError as exc:
            raise InvalidRequest(f"{str(exc).capitalize()}.", param="note") from None
    return {"at": note.at, "by": note.by, "note": note.note}
