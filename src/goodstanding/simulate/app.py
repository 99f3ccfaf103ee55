"""The simulated upstream as one raw ASGI callable, with its state open to in-process tests."""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

from . import admin, catalog, chat, moderation, responses
from .http import (
    BadRequest,
    Receive,
    Reply,
    Request,
    Send,
    StreamReply,
    envelope,
    parse_json,
    read_body,
    send_reply,
)
from .ratelimit import Window

log = logging.getLogger(__name__)

REMEMBERED = 1000  # recent requests and moderation inputs kept for inspection
MODERATION_MODES = ("ok", "down", "slow", "rate_limited")

Handler = Callable[..., Awaitable[Reply | StreamReply]]

_ROUTES: dict[tuple[str, str], Handler] = {
    ("POST", "/v1/chat/completions"): chat.handle,
    ("POST", "/v1/responses"): responses.handle,
    ("POST", "/v1/moderations"): moderation.handle,
    ("POST", "/v1/embeddings"): catalog.embeddings,
    ("POST", "/v1/images/generations"): catalog.images,
    ("GET", "/v1/models"): catalog.list_models,
}
_PATTERNS: list[tuple[str, re.Pattern[str], Handler]] = [
    ("GET", re.compile(r"/v1/models/([^/]+)"), catalog.get_model),
    ("POST", re.compile(r"/v1/organization/projects/([^/]+)/service_accounts/([^/]+)/api_keys"),
     admin.create_key),
    ("DELETE", re.compile(r"/v1/organization/projects/([^/]+)/api_keys/([^/]+)"),
     admin.delete_key),
    ("GET", re.compile(r"/v1/safety/cases/([^/]+)"), admin.get_case),
]  # fmt: skip


@dataclass
class SimConfig:
    """What tests may change at run time (in process or with `POST /_sim/config`)."""

    moderation: str = "ok"  # ok | down (503) | slow (sleeps slow_moderation_s) | rate_limited
    chunk_delay: float = 0.0  # seconds between stream chunks
    slow_moderation_s: float = 10.0

    def update(self, values: Any) -> None:
        if not isinstance(values, dict):
            raise BadRequest("The configuration must be a JSON object.")
        known = {f.name for f in fields(self)}
        for name, value in values.items():
            if name not in known:
                raise BadRequest(f"Unknown configuration field '{name}'.", param=name)
            setattr(self, name, _checked(name, value))


def _checked(name: str, value: Any) -> Any:
    if name == "moderation":
        if value not in MODERATION_MODES:
            raise BadRequest(f"'moderation' must be one of {', '.join(MODERATION_MODES)}.")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise BadRequest(f"'{name}' must be a number of seconds, zero or more.", param=name)
    return float(value)


class SimulatedUpstream:
    """The ASGI app. Attributes are live state: read them from tests, `reset()` between tests."""

    def __init__(self, api_key: str | None = None, admin_key: str | None = None) -> None:
        self.api_key = api_key
        self.admin_key = admin_key
        self.url: str | None = None  # set by whoever serves it, for tests' convenience
        self.config = SimConfig()
        self.calls: Counter[str] = Counter()
        # how streams ended: "completed", "abandoned" (the client left), "disconnected" (fault)
        self.streams: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []
        self.moderation_inputs: list[Any] = []
        self.api_keys: dict[str, dict[str, Any]] = {}  # minted through the Admin API, by id
        self.deleted_keys: list[str] = []
        self.cases: dict[str, dict[str, Any]] = {}
        self.once: set[str] = set()  # `429-once:ID` faults already answered
        self.window = Window(requests_per_min=5000, tokens_per_min=2_000_000)
        self.moderation_window = Window(requests_per_min=500, tokens_per_min=10_000)

    def reset(self) -> None:
        """Forget everything seen and restore the default configuration."""
        self.config = SimConfig()
        for store in (self.calls, self.streams, self.requests, self.moderation_inputs, self.api_keys,
                      self.deleted_keys, self.cases, self.once):  # fmt: skip
            store.clear()
        self.window.reset()
        self.moderation_window.reset()

    def snapshot(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "requests": self.requests,
            "moderation_inputs": self.moderation_inputs,
            "config": asdict(self.config),
            "api_keys": list(self.api_keys.values()),
            "deleted_keys": self.deleted_keys,
            "cases": list(self.cases.values()),
        }

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        elif scope["type"] == "http":
            ended = await send_reply(send, receive, await self._answer(scope, receive))
            if ended:
                self.streams[ended] += 1

    async def _answer(self, scope: dict[str, Any], receive: Receive) -> Reply | StreamReply:
        try:
            return await self._dispatch(scope, receive)
        except BadRequest as e:
            return envelope(400, e.message, param=e.param, code=e.code)
        except Exception as e:  # a bug in the simulator: say so in OpenAI's shape, never a trace
            log.exception("simulated upstream failed")
            return envelope(500, f"Simulated upstream error ({type(e).__name__}).",
                            type="server_error", code="server_error")  # fmt: skip

    async def _dispatch(self, scope: dict[str, Any], receive: Receive) -> Reply | StreamReply:
        method, path = scope["method"], scope["path"]
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        raw = await read_body(receive)
        if path.startswith("/_sim/"):
            return await self._control(method, path, parse_json(raw))
        try:
            body = parse_json(raw)
        except BadRequest:
            self._record(method, path, headers, None)
            raise
        self._record(method, path, headers, body)
        request = Request(method, path, headers, body)
        refusal = self._authenticate(request)
        return refusal or await self._route(request)

    def note_moderation(self, value: Any) -> None:
        _remember(self.moderation_inputs, value)

    def _record(self, method: str, path: str, headers: dict[str, str], body: Any) -> None:
        self.calls[path] += 1
        _remember(self.requests, {"method": method, "path": path, "headers": headers, "body": body})

    def _authenticate(self, req: Request) -> Reply | None:
        admin_path = req.path.startswith("/v1/organization/")
        if admin_path and self.admin_key is not None:
            accepted = {self.admin_key}
        elif self.api_key is not None:
            accepted = {self.api_key} | {k["value"] for k in self.api_keys.values()}
        else:
            return None
        presented = req.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if presented in accepted:
            return None
        return envelope(
            401,
            f"Incorrect API key provided{_masked(presented)}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )

    async def _route(self, req: Request) -> Reply | StreamReply:
        handler = _ROUTES.get((req.method, req.path))
        if handler is not None:
            return await handler(req, self)
        for method, pattern, handler in _PATTERNS:
            match = pattern.fullmatch(req.path)
            if match and method == req.method:
                return await handler(req, self, *match.groups())
        return envelope(404, f"Invalid URL ({req.method} {req.path})")

    async def _control(self, method: str, path: str, body: Any) -> Reply:
        """The `/_sim/` side door for tests that drive the simulator over HTTP."""
        if (method, path) == ("GET", "/_sim/log"):
            return Reply(200, self.snapshot())
        if (method, path) == ("POST", "/_sim/reset"):
            self.reset()
            return Reply(200, {"reset": True})
        if (method, path) == ("POST", "/_sim/config"):
            self.config.update(body if body is not None else {})
            return Reply(200, asdict(self.config))
        if (method, path) == ("POST", "/_sim/cases"):
            return await admin.register_case(Request(method, path, {}, body), self)
        return envelope(404, f"Invalid URL ({method} {path})")


def _masked(presented: str) -> str:
    """The refused key as OpenAI's 401 names it: its start and end, the rest masked."""
    if len(presented) < 16:
        return ""
    return f": {presented[:8]}{'*' * (len(presented) - 12)}{presented[-4:]}"


def _remember(items: list[Any], item: Any) -> None:
    items.append(item)
    if len(items) > REMEMBERED:
        del items[0]


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_app(api_key: str | None = None, *, admin_key: str | None = None) -> SimulatedUpstream:
    """The simulated OpenAI upstream. With `api_key`, other bearer keys get 401."""
    return SimulatedUpstream(api_key=api_key, admin_key=admin_key)
