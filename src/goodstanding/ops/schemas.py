"""The JSON shapes of ``GET /admin/api/standing`` and ``GET /admin/api/alerts``, as pydantic
models for the admin API's OpenAPI document (``response_model=StandingOut`` /
``list[AlertOut]``). ``Ops.standing()`` and ``Ops.recent_alerts()`` return plain dicts of
exactly these shapes (tests/test_ops_standing.py validates them with ``extra="forbid"``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DriverOut(_Out):
    kind: Literal["end_user", "key"]
    id: str
    tenant: str | None = Field(description="the end user's tenant; null for a key")
    count: int
    share: float = Field(ge=0, le=1, description="share of the signal's count in the window")


class SignalOut(_Out):
    signal: str = Field(description="e.g. input_flag:violence, jailbreak, zero_tolerance")
    title: str
    count: int
    previous: int = Field(description="the count in the window before, of the same length")
    pressure: float = Field(ge=0, le=1)
    contribution: float = Field(description="points of the window's score")
    trend: Literal["new", "rising", "steady", "falling", "gone"]
    end_users: list[DriverOut]
    keys: list[DriverOut]


class WindowOut(_Out):
    window: Literal["1h", "24h", "7d"]
    score: float = Field(ge=0, le=100)
    previous_score: float = Field(ge=0, le=100)
    requests: int
    signals: list[SignalOut]


class StandingOut(_Out):
    score: float = Field(ge=0, le=100, description="the worst of the three windows")
    level: Literal["good", "watch", "at_risk", "critical"]
    computed_at: float
    windows: dict[Literal["1h", "24h", "7d"], WindowOut]
    actions: list[str] = Field(description="what to do, in plain words, most pressing first")
    estimate: bool = Field(description="always true: an estimate, not OpenAI's own view")
    note: str


class DeliveryOut(_Out):
    target: str
    ok: bool
    attempts: int
    status: int | None
    error: str | None


class AlertOut(_Out):
    id: str
    at: float
    rule: str | None
    when: str | None
    severity: str | None
    summary: str | None
    status: Literal["sent", "given_up", "logged"]
    deliveries: list[DeliveryOut]

