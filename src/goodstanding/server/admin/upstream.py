"""``/admin/api/upstream``: the upstream keys (OpenAI projects) with their usage, signals and
standing, so an operator sees which project is at risk (``upstream_standing.py``; read-only).
What is shown of a key is its fingerprint, never its value."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from goodstanding.credentials import upstream_standing
from goodstanding.errors import NotFound
from goodstanding.server.admin.common import AdminDep

router = APIRouter(prefix="/upstream", tags=["upstream keys"])

Name = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$",
                           description="an upstream.keys name, or default (upstream.key)")]


class SignalCount(BaseModel):
    signal: str
    count: int


class UpstreamWindow(BaseModel):
    requests: int
    tokens_in: int
    tokens_out: int
    refusals: int
    flagged: int
    strikes: int = Field(description="calls that gave their end user a strike")
    upstream_policy: int = Field(description="OpenAI's policy refusals and content filters")
    upstream_429: int = Field(description="OpenAI's 429 answers")
    insufficient_quota: int = Field(description="insufficient_quota or credit exhausted")
    held: int = Field(description="calls the gateway held back before OpenAI's rate limit")
    enforcement_notices: int = Field(default=0, description="OpenAI enforcement webhooks "
                                     "acted on that named this key's project")
    signals: dict[str, int] = Field(description="standing signals by name")
    score: float = Field(description="this key's standing score in the window (0-100)")
    level: str


class UpstreamOut(BaseModel):
    name: str
    configured: bool = Field(description="false: seen in the audit log, no longer configured")
    project: str | None = None
    kept_in: str | None = Field(default=None, description="env, file, secret or vault")
    fingerprint: str | None = Field(default=None, description="the key's kind and last four "
                                                              "characters, never the key")
    age: float | None = Field(default=None, description="seconds since the key was minted "
                                                        "(file and secret references)")
    max_age: float | None = None
    rotation_due_in: float | None = Field(default=None, description="seconds until max_age "
                                                                    "(negative: overdue)")
    nearing_rotation: bool = Field(default=False, description="within upstream.rotation."
                                                              "warn_before of max_age, or past")
    scheduled_rotation: bool = False
    virtual_keys: int = Field(description="usable virtual keys bound to this upstream key")
    score: float = Field(description="the worst of the windows' scores (an estimate)")
    level: str = Field(description="good | watch | at_risk | critical")
    top_signals: list[SignalCount] = Field(description="the 7 days' most frequent signals")
    windows: dict[str, UpstreamWindow] = Field(description="1h, 24h and 7d")


@router.get("", response_model=list[UpstreamOut], summary="Upstream keys with their usage, "
            "signals and standing, the worst standing first")
async def list_upstream(admin: AdminDep) -> list[dict[str, Any]]:
    return await upstream_standing.views(admin.gateway.settings, admin.store)


@router.get("/{name}", response_model=UpstreamOut, summary="One upstream key's usage, signals "
            "and standing")
async def show_upstream(admin: AdminDep, name: Name) -> dict[str, Any]:
    for row in await upstream_standing.views(admin.gateway.settings, admin.store):
        if row["name"] == name:
            return row
    raise NotFound(f"No upstream key named {name!r}.", param="name")
