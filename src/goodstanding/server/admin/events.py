"""``/admin/api/events``: the audit log, searched by time range, decision, endpoint (the
type of call; admin actions are ``admin.*``), end user, key, tenant, category and request id,
newest first with cursor pagination, and exported whole as CSV or JSON. Records hold no
prompt or answer text, so neither does anything here."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from goodstanding.server.admin.common import (
    AdminDep,
    decode_cursor,
    encode_cursor,
    end_user_id,
)
from goodstanding.stores import schema

router = APIRouter(prefix="/events", tags=["events"])

FIELDS = ("id", *(str(name) for name in schema.AUDIT_FIELDS))  # plain str: orjson keys
PAGE = 1000
Time = Annotated[float | None, Query(ge=0, le=1e11, description="Unix time, seconds")]


class Event(BaseModel):
    id: int
    ts: float
    request_id: str
    key_id: str | None
    tenant: str | None
    end_user: str | None
    client_ip: str | None
    country: str | None
    method: str | None
    endpoint: str | None
    model: str | None
    stream: bool | None
    status: int | None
    tokens_in: int | None
    tokens_out: int | None
    decision: str
    reasons: list[Any]
    scores: dict[str, Any]
    latency_ms: float | None
    actor: str | None = None  # the admin token behind an admin action


class EventPage(BaseModel):
    data: list[Event]
    next_cursor: str | None
    has_more: bool


@dataclass(frozen=True, slots=True)
class Filters:
    since: float | None
    until: float | None
    decision: str | None
    endpoint: str | None
    end_user: str | None
    key_id: str | None
    tenant: str | None
    category: str | None
    request_id: str | None

    def query(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]


def _filters(
    since: Time = None,
    until: Time = None,
    decision: Annotated[str | None, Query(max_length=32, description="allowed, flagged, "
                                          "refused, output_withheld, admin, …")] = None,
    endpoint: Annotated[str | None, Query(max_length=64, description="chat.completions, "
                                          "responses, …, admin.users.ban, …")] = None,
    end_user: Annotated[str | None, Query(min_length=1, max_length=1024)] = None,
    key_id: Annotated[str | None, Query(max_length=32)] = None,
    tenant: Annotated[str | None, Query(max_length=64)] = None,
    category: Annotated[str | None, Query(pattern=r"^[a-z0-9/_-]{1,64}$", description="a "
                                          "moderation or detector category, e.g. violence")
                        ] = None,
    request_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Filters:
    user = end_user_id(end_user) if end_user is not None else None
    return Filters(since, until, decision, endpoint, user, key_id, tenant, category, request_id)


FiltersDep = Annotated[Filters, Depends(_filters)]


def _cursor(cursor: str) -> int:
    value = decode_cursor(cursor)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        decode_cursor("!")  # raises: not one of ours
    return int(value)


@router.get("", response_model=EventPage, summary="Search the audit log, newest first")
async def search(
    admin: AdminDep,
    filters: FiltersDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=256)] = None,
) -> dict[str, Any]:
    before = _cursor(cursor) if cursor else None
    rows = await admin.store.query_audit(**filters.query(), before_id=before,
                                                 limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return {"data": rows, "has_more": more,
            "next_cursor": encode_cursor(rows[-1]["id"]) if more else None}


@router.get(
    "/export", summary="Export the matching events as CSV or JSON (newest first)",
    response_class=StreamingResponse,
    responses={200: {"description": "The events: a CSV file or a JSON array of events",
                     "content": {"text/csv": {"schema": {"type": "string"}},
                                 "application/json": {"schema": {
                                     "type": "array",
                                     "items": {"$ref": "#/components/schemas/Event"}}}}}},
)
async def export(
    admin: AdminDep,
    filters: FiltersDep,
    format: Annotated[Literal["csv", "json"], Query()] = "csv",
    limit: Annotated[int, Query(ge=1, le=1_000_000)] = 100_000,
) -> StreamingResponse:
    # the filters go in the reasons, not the key/end-user columns: an export is not an
    # action on what it exports, and must not show up among that key's or user's calls
    used = {name: value for name, value in filters.query().items() if value is not None}
    async with admin.acting("events.export") as target:
        target.detail.extend([f"{name}={value}" for name, value in used.items()])
        target.detail.append(f"format:{format}")
    rows = _rows(admin, filters, limit)
    body = _csv(rows) if format == "csv" else _json(rows)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return StreamingResponse(
        body, media_type="text/csv; charset=utf-8" if format == "csv" else "application/json",
        headers={"content-disposition": f'attachment; filename="events-{stamp}.{format}"'})


async def _rows(admin: AdminDep, filters: Filters, limit: int) -> AsyncIterator[dict[str, Any]]:
    before: int | None = None
    left = limit
    while left > 0:
        page = await admin.store.query_audit(**filters.query(), before_id=before,
                                                     limit=min(PAGE, left))
        for row in page:
            yield row
        if len(page) < min(PAGE, left):
            return
        left -= len(page)
        before = page[-1]["id"]


async def _csv(rows: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(FIELDS)
    async for row in rows:
        writer.writerow([_cell(row.get(name)) for name in FIELDS])
        if buffer.tell() > 65536:
            yield _drain(buffer)
    yield _drain(buffer)


def _cell(value: Any) -> Any:
    if isinstance(value, list | dict):
        return orjson.dumps(value).decode()
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # no formulas when a spreadsheet opens the export
    return "" if value is None else value


def _drain(buffer: io.StringIO) -> bytes:
    data = buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    return data


async def _json(rows: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    first = True
    yield b"["
    async for row in rows:
        yield (b"" if first else b",") + orjson.dumps({name: row.get(name) for name in FIELDS})
        first = False
    yield b"]"
