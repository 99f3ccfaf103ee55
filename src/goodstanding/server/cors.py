"""CORS for browser apps that call the gateway directly (`server.cors_origins`).

Pure transport, wrapped around the whole app only when origins are configured (none by
default: no wrapper, no cost). For a request from an allowed `Origin`:

- a preflight (`OPTIONS` with `Access-Control-Request-Method`) is answered here, 204, allowing
  GET/POST and the headers the browser asked for (the SDKs send `x-stainless-*` and others);
- any other request goes through and its answer gets `Access-Control-Allow-Origin` (the origin
  itself, with `Vary: Origin`) and the headers a client reads exposed (`x-request-id`,
  `retry-after`, `x-ratelimit-*`, …), errors included.

A preflight from another origin gets 403 `origin_not_allowed` without CORS headers, so the
browser never sends the request; other requests from it go through without CORS headers, so
the browser withholds the answer from the page. Which origins a *key* may be used from is the
key's own limit (checks/key_scope.py).
"""

from __future__ import annotations

import re

from goodstanding.errors import OriginNotAllowed
from goodstanding.server.transport import Receive, Scope, Send, request_id, send_error

ALLOW_METHODS = b"GET, POST, OPTIONS"
DEFAULT_HEADERS = b"authorization, content-type"
EXPOSE = (b"x-request-id, retry-after, retry-after-ms, x-should-retry, x-goodstanding-warning, "
          b"x-ratelimit-limit-requests, x-ratelimit-limit-tokens, "
          b"x-ratelimit-remaining-requests, x-ratelimit-remaining-tokens, "
          b"x-ratelimit-reset-requests, x-ratelimit-reset-tokens, openai-processing-ms")  # fmt: skip
MAX_AGE = b"600"
_HEADER_LIST = re.compile(rb"^[A-Za-z0-9!#$%&'*+.^_`|~, -]{1,2000}$")


class Cors:
    def __init__(self, app: object, origins: tuple[str, ...]) -> None:
        self.app = app
        # the runner serves an app with its own bounded HTTP protocol when the app names one
        # (GatewayApp.http_protocol): a gateway with CORS on keeps its header limits and
        # timeouts, it does not fall back to plain httptools
        protocol = getattr(app, "http_protocol", None)
        if protocol is not None:
            self.http_protocol = protocol
        self.any = "*" in origins
        self.origins = frozenset(o.encode() for o in origins if o != "*")

    def allowed(self, origin: bytes) -> bool:
        return self.any or origin.lower().rstrip(b"/") in self.origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # type: ignore[operator]
            return
        origin = asked = None
        requested_method = False
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"access-control-request-headers":
                asked = value
            elif name == b"access-control-request-method":
                requested_method = True
        if origin is None:
            await self.app(scope, receive, send)  # type: ignore[operator]
            return
        ok = self.allowed(origin)
        if requested_method and scope["method"] == "OPTIONS":
            await self._preflight(send, origin, asked, ok)
        elif not ok:
            await self.app(scope, receive, send)  # type: ignore[operator]
        else:
            await self.app(scope, receive, _with_cors(send, origin))  # type: ignore[operator]

    async def _preflight(self, send: Send, origin: bytes, asked: bytes | None, ok: bool) -> None:
        rid = request_id()
        if not ok:
            error = OriginNotAllowed("This origin may not call the gateway (server.cors_origins).")
            await send_error(send, error, {"x-request-id": rid})
            return
        allow = asked if asked is not None and _HEADER_LIST.match(asked) else DEFAULT_HEADERS
        headers = [
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-methods", ALLOW_METHODS),
            (b"access-control-allow-headers", allow),
            (b"access-control-max-age", MAX_AGE),
            (b"vary", b"Origin"),
            (b"x-request-id", rid.encode()),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def _with_cors(send: Send, origin: bytes) -> Send:
    extra = [(b"access-control-allow-origin", origin), (b"access-control-expose-headers", EXPOSE),
             (b"vary", b"Origin")]  # fmt: skip

    async def sending(message: dict) -> None:  # type: ignore[type-arg]
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *extra]}
        await send(message)

    return sending  # type: ignore[return-value]
