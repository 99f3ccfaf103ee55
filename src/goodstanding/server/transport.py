"""Transport helpers for the raw ASGI shell: headers, body limits, client IP, responses.

The server is plain ASGI on uvicorn (httptools + uvloop) with no framework in between: every
microsecond here is paid on every proxied request (see bench/).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from goodstanding.door import check_declared_length, request_id, too_large
from goodstanding.errors import GatewayError, InvalidRequest

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON = b"application/json"
__all__ = ["request_id"]  # the server modules take it from here (it lives in door.py)


# Headers that say who is calling, or for whom: sent twice, the last one would win, so a client
# could add its own after the one its application's proxy set (or the other way round) and be
# served as someone else. Such a request is ambiguous and refused.
SINGLE = frozenset({b"authorization", b"x-end-user", b"x-end-user-token", b"x-end-user-ip",
                    b"x-end-user-policy-version"})


def header_dict(scope: Scope) -> dict[str, str]:
    """Names as Latin-1 (they are ASCII tokens), values as UTF-8 (SPEC §3: ``X-End-User:
    José`` is ``José``, not ``JosÃ©``). A value that is not UTF-8 → 400 ``invalid_request``;
    so is an identity header (``SINGLE``) sent more than once."""
    raw = scope["headers"]
    try:
        headers = {k.decode("latin-1"): v.decode() for k, v in raw}
    except UnicodeDecodeError:
        raise _not_utf8(raw) from None
    if len(headers) < len(raw):  # a name came twice (rare): one of ours?
        names = [k.lower() for k, _ in raw]
        for name in sorted(SINGLE.intersection(names)):
            if names.count(name) > 1:
                header = name.decode("latin-1")
                raise InvalidRequest(f"The header {header!r} was sent more than once; send it "
                                     "once.", param=header, reasons=("header_repeated",))
    return headers


def _not_utf8(headers: list[tuple[bytes, bytes]]) -> InvalidRequest:
    for name, value in headers:
        try:
            value.decode()
        except UnicodeDecodeError:
            # the param names the header, never echoes its value
            return InvalidRequest(f"The value of the header {name.decode('latin-1')!r} is not "
                                  "valid UTF-8.", param=name.decode("latin-1"),
                                  reasons=("header_not_utf8",))
    return InvalidRequest("A header value is not valid UTF-8.", reasons=("header_not_utf8",))


async def read_body(receive: Receive, headers: dict[str, str], limit: int) -> bytes:
    """The whole body as it arrives, bounded by its declared and its actual size."""
    check_declared_length(headers, limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":  # gone, or cut off by server.body_timeout
            raise InvalidRequest("The connection closed before the request body was complete.",
                                 reasons=("body_incomplete",))
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class TrustedProxies:
    """Believe ``X-Forwarded-For`` only when the socket peer is a configured proxy (STYLE 6).

    The client is the right-most address in the chain that is not itself a trusted proxy:
    anything left of that was written by the client and could be forged.
    """

    def __init__(self, cidrs: tuple[str, ...]) -> None:
        self.networks = tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)

    def trusted(self, address: str) -> bool:
        if not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def client_ip(self, scope: Scope, headers: dict[str, str]) -> str:
        peer = scope["client"][0] if scope.get("client") else "unknown"
        forwarded = headers.get("x-forwarded-for")
        if not forwarded or not self.trusted(peer):
            return peer
        for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
            if not self.trusted(hop):
                return hop if _is_ip(hop) else peer
        return peer


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def encode_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


async def send_bytes(
    send: Send, status: int, body: bytes, headers: dict[str, str], content_type: bytes = JSON
) -> None:
    raw = encode_headers(headers)
    raw.append((b"content-type", content_type))
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, document: Any, headers: dict[str, str]) -> None:
    await send_bytes(send, status, orjson.dumps(document), headers)


async def send_error(send: Send, error: GatewayError, headers: dict[str, str]) -> None:
    await send_json(send, error.status, error.body(), {**headers, **error.response_headers()})
