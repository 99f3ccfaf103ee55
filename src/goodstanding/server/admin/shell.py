"""The pure ASGI shell around the admin API: what happens before FastAPI sees a request.

A request id on every answer; the admin token checked first (a request without one never
has its body read, and is recorded as ``admin.denied``); bodies bounded; and a last resort
that turns a crash into the error envelope, never a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from goodstanding.errors import GatewayError, InternalError, InvalidApiKey, RequestTooLarge
from goodstanding.gateway import Gateway
from goodstanding.server.admin.auth import AdminTokens
from goodstanding.server.admin.common import SCOPE_KEY, Caller, record
from goodstanding.server.transport import (
    Receive,
    Scope,
    Send,
    TrustedProxies,
    request_id,
    send_error,
)

log = logging.getLogger("goodstanding.admin")

MAX_BODY_BYTES = 1024 * 1024


class AdminShell:
    def __init__(self, gateway: Gateway, tokens: AdminTokens, app: Any) -> None:
        self.gateway = gateway
        self.tokens = tokens
        self.app = app
        self.proxies = TrustedProxies(gateway.settings.server.trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = request_id()
        headers = dict(scope["headers"])
        caller = Caller(self.tokens.name_of(headers.get(b"authorization")) or "", rid,
                        self._client(scope, headers), scope["method"])
        started = False

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()),
                                      (b"x-request-id", rid.encode())]
            await send(message)

        try:
            if not caller.name:
                await record(self.gateway, caller, "denied", 401)
                raise InvalidApiKey("Missing or unknown admin token: pass "
                                    "Authorization: Bearer <admin token>.",
                                    headers={"www-authenticate": "Bearer"})
            _check_length(headers)
            scope[SCOPE_KEY] = caller
            await self.app(scope, _bounded(receive), send_with_id)
        except GatewayError as error:
            if not started:
                await send_error(send, error, {"x-request-id": rid})
        except Exception:  # FastAPI has answered already (api._crash), or we do here
            if started:
                return  # the envelope went out (api._crash); the traceback is logged there
            log.exception("admin API: unhandled error (%s)", rid)
            await send_error(send, InternalError("The admin API failed."), {"x-request-id": rid})

    def _client(self, scope: Scope, headers: dict[bytes, bytes]) -> str:
        """The socket peer, or X-Forwarded-For from the trusted proxies only (as the proxy)."""
        forwarded = headers.get(b"x-forwarded-for")
        named = {"x-forwarded-for": forwarded.decode("latin-1")} if forwarded else {}
        return self.proxies.client_ip(scope, named)


def _check_length(headers: dict[bytes, bytes]) -> None:
    declared = headers.get(b"content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise RequestTooLarge(f"The admin API takes bodies of at most {MAX_BODY_BYTES} bytes.")


def _bounded(receive: Receive) -> Receive:
    seen = 0

    async def bounded() -> Any:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > MAX_BODY_BYTES:
            raise RequestTooLarge(f"The admin API takes bodies of at most {MAX_BODY_BYTES} "
                                  "bytes.")
        return message

    return bounded
