"""``/admin/api/usage``: requests, tokens, refusals and flags of the proxied calls, grouped
by key, model, end user, tenant, endpoint and/or UTC day (admin actions are not usage)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from goodstanding.server.admin.common import AdminDep

router = APIRouter(prefix="/usage", tags=["usage"])

Group = Literal["key", "model", "end_user", "tenant", "endpoint", "day"]
DEFAULT_SPAN = 30 * 86400


class UsageRow(BaseModel):
    key: str | None = None
    model: str | None = None
    end_user: str | None = None
    tenant: str | None = None
    endpoint: str | None = None
    day: str | None = Field(default=None, description="UTC day, YYYY-MM-DD")
    requests: int
    tokens_in: int
    tokens_out: int
    refusals: int
    flagged: int


class Usage(BaseModel):
    since: float
    until: float | None
    group_by: list[Group]
    rows: list[UsageRow]


@router.get("", response_model=Usage, response_model_exclude_unset=True,
            summary="Usage summaries (default: per day over the last 30 days)")
async def usage(
    admin: AdminDep,
    group_by: Annotated[list[Group] | None, Query(max_length=6)] = None,
    since: Annotated[float | None, Query(ge=0, le=1e11, description="Unix time; default "
                                         "30 days ago")] = None,
    until: Annotated[float | None, Query(ge=0, le=1e11)] = None,
    tenant: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> dict[str, Any]:
    groups = list(dict.fromkeys(group_by or ["day"]))
    if "end_user" in groups and "tenant" not in groups:
        groups.append("tenant")  # an end user is one per tenant
    since = time.time() - DEFAULT_SPAN if since is None else since
    rows = await admin.store.usage(since=since, until=until, group_by=groups,
                                           tenant=tenant, limit=limit)
    for row in rows:
        if "day" in row:
            row["day"] = dt.datetime.fromtimestamp(row["day"] * 86400, dt.UTC).date().isoformat()
    return {"since": since, "until": until, "group_by": groups, "rows": rows}
