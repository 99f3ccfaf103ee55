"""``GET /policy``: the content policy as HTML, or ``?format=md`` / ``?format=json``.

Rendered once from the settings the gateway runs with (``policy.render``); the settings never
change while it runs, so each format is built on first request and served from memory.
"""

from __future__ import annotations

from urllib.parse import parse_qs

import orjson

from goodstanding.errors import InvalidRequest
from goodstanding.policy import render
from goodstanding.server.transport import Receive, Scope, Send, request_id, send_bytes
from goodstanding.settings import Settings

PATH = render.PATH
_TYPES = {"html": b"text/html; charset=utf-8", "md": b"text/markdown; charset=utf-8",
          "json": b"application/json"}


class PolicyPage:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._bodies: dict[str, bytes] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method", "GET") not in ("GET", "HEAD"):
            raise InvalidRequest("Only GET reads the content policy.")
        wanted = _format(scope.get("query_string") or b"")
        body = self._bodies.get(wanted)
        if body is None:
            body = self._bodies[wanted] = render_policy(self.settings, wanted).encode()
        await send_bytes(send, 200, body, {"x-request-id": request_id(),
                                           "cache-control": "public, max-age=300"},
                         _TYPES[wanted])


def render_policy(settings: Settings, wanted: str) -> str:
    document = render.document(settings)
    if wanted == "json":
        return orjson.dumps(render.as_json(document), option=orjson.OPT_INDENT_2).decode()
    if wanted == "md":
        return render.markdown(document)
    return render.html_page(document)


def _format(query: bytes) -> str:
    try:
        values = parse_qs(query.decode("ascii")).get("format", ["html"])
    except UnicodeDecodeError:
        raise InvalidRequest("The query string is not valid.") from None
    wanted = values[-1].lower()
    if wanted == "markdown":
        wanted = "md"
    if wanted not in _TYPES:
        raise InvalidRequest("Unknown format: use html, md or json.", param="format")
    return wanted
