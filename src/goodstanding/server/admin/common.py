"""What every admin resource module shares: who is acting (and the record of it), the error
envelope in the schema, cursors, and the tenant an end-user id belongs to."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from pydantic import BaseModel

from goodstanding.endusers.identity import canonical_end_user
from goodstanding.errors import GatewayError, InvalidRequest
from goodstanding.gateway import Gateway
from goodstanding.stores.base import Store
from goodstanding.stores.bounded import bound

ADMIN_TIMEOUT = 30.0  # seconds for one admin store operation
SCOPE_KEY = "goodstanding.admin"  # the shell puts the Caller here (shell.py)
ADMIN_DECISION = "admin"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who called, as the shell found them: the admin token's name and the request's facts."""

    name: str
    request_id: str
    client_ip: str
    method: str


@dataclass(slots=True)
class Target:
    """What an admin action is about; a handler fills in what it learns (a new key's id)."""

    key_id: str | None = None
    tenant: str | None = None
    end_user: str | None = None
    detail: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Admin:
    """One admin request: the gateway it acts on, the token behind it, and the store as the
    admin API reads it (``admin_store``)."""

    gateway: Gateway
    caller: Caller
    store: Store

    @property
    def name(self) -> str:
        return self.caller.name

    @asynccontextmanager
    async def acting(self, action: str, target: Target | None = None, status: int = 200
                     ) -> AsyncIterator[Target]:
        """Record ``action`` as an audit event naming the admin token, whatever its outcome
        (``status`` when it succeeds, the error's when it fails); the record is committed
        before the answer."""
        target = target or Target()
        try:
            yield target
        except GatewayError as error:
            status = error.status
            raise
        except BaseException:
            status = 500
            raise
        finally:
            await record(self.gateway, self.caller, action, status, target)


async def record(gateway: Gateway, caller: Caller, action: str, status: int,
                 target: Target | None = None) -> None:
    target = target or Target()
    await gateway.audit.record_event({
        "ts": time.time(), "request_id": caller.request_id, "key_id": target.key_id,
        "tenant": target.tenant, "end_user": target.end_user, "client_ip": caller.client_ip,
        "method": caller.method, "endpoint": f"admin.{action}", "stream": False,
        "status": status, "decision": ADMIN_DECISION, "reasons": [action, *target.detail],
        "scores": {}, "actor": caller.name or None,
    })


def admin_store(gateway: Gateway) -> Store:
    """The gateway's store with a bound for the admin API: aggregate reads over the audit
    log may take longer than the hot path's ``storage.timeout``, never forever."""
    inner = getattr(gateway.store, "inner", gateway.store)  # under the hot path's bound
    return bound(inner, max(ADMIN_TIMEOUT, gateway.settings.storage.timeout))


def _admin(request: Request) -> Admin:
    state = request.app.state
    return Admin(state.gateway, request.scope[SCOPE_KEY], state.store)


AdminDep = Annotated[Admin, Depends(_admin)]


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str


class ErrorEnvelope(BaseModel):
    """OpenAI's error envelope, as everywhere in the gateway."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorEnvelope, "description": "Invalid parameters (`invalid_request`)"},
    401: {"model": ErrorEnvelope, "description": "Missing or unknown admin token"},
    404: {"model": ErrorEnvelope, "description": "No such resource (`not_found`)"},
    413: {"model": ErrorEnvelope, "description": "Body over the admin API's limit"},
}


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    try:
        return orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        raise InvalidRequest("Invalid cursor: pass the next_cursor of the previous page.",
                             param="cursor") from None


def end_user_id(value: str, param: str = "end_user") -> str:
    """The gateway's own canonicalisation, so any spelling names the one end user."""
    try:
        canonical = canonical_end_user(value)
    except ValueError as exc:
        raise InvalidRequest(f"Invalid end-user id: {exc}.", param=param) from None
    if not canonical:
        raise InvalidRequest("The end-user id is empty once canonicalised.", param=param)
    return canonical


async def tenant_of(store: Store, given: str | None) -> str:
    """The tenant named, or the only one there is (as ``goodstanding users`` does)."""
    if given:
        return given
    tenants = sorted({key.tenant for key in await store.list_keys()})
    if len(tenants) != 1:
        raise InvalidRequest("Pass tenant: there are several tenants, or none yet.",
                             param="tenant")
    return tenants[0]
