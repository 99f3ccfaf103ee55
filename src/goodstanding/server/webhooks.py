"""``POST /webhooks/openai``: the thin ASGI side of ``goodstanding.enforcement.webhooks``.

Mounted only when ``OPENAI_WEBHOOK_SECRET`` is set (otherwise the path is a 404). Every
delivery leaves an audit record — a bad signature included, durably, since a stream of forged
deliveries is itself worth seeing.
"""

from __future__ import annotations

import logging

from goodstanding.call import Call
from goodstanding.enforcement.enforcer import StrikePolicy
from goodstanding.enforcement.webhooks import WebhookReceiver, case_fetcher
from goodstanding.errors import GatewayError, InternalError, NotFound
from goodstanding.gateway import Gateway
from goodstanding.ops.logs import bind
from goodstanding.server.transport import (
    Receive,
    Scope,
    Send,
    TrustedProxies,
    header_dict,
    read_body,
    request_id,
    send_error,
    send_json,
)
from goodstanding.settings import Settings

log = logging.getLogger("goodstanding.server")

PATH = "/webhooks/openai"
MAX_BODY_BYTES = 256 * 1024  # enforcement events are a few hundred bytes


class WebhookEndpoint:
    def __init__(self, gateway: Gateway, secret: str) -> None:
        settings = gateway.settings
        self.audit = gateway.audit
        self.proxies = TrustedProxies(settings.server.trusted_proxies)
        self.receiver = WebhookReceiver(
            secret, gateway.store, gateway.store, gateway.enforcer,
            StrikePolicy.of(settings.strikes),
            case_fetcher(settings.upstream.url, settings.upstream_key,
                         settings.upstream.connect_timeout),
            ops=gateway.ops, projects=_projects(settings),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = request_id()
        call = Call(rid, scope["method"], PATH, "webhooks.openai", {},
                    self.proxies.client_ip(scope, {}))
        bind(call)  # this delivery's log lines name it
        try:
            headers = header_dict(scope)  # 400 when a value is not UTF-8
            call.client_ip = self.proxies.client_ip(scope, headers)
            if scope["method"] != "POST":
                raise NotFound(f"{scope['method']} is not supported on {PATH}.")
            body = await read_body(receive, headers, MAX_BODY_BYTES)
            handled = await self.receiver.receive(headers, body)
        except Exception as exc:  # a bug too is recorded (the app's last resort records nothing)
            if isinstance(exc, GatewayError):
                error = exc
            else:
                log.exception("webhook delivery %s failed", rid)
                error = InternalError("The gateway failed to handle this webhook.")
            call.status = error.status
            call.decision = "refused" if error.status < 500 else "failed"
            call.reasons.extend(error.reasons)
            await self.audit.record(call, durable=True, commit=True)  # queryable at once
            await send_error(send, error, {"x-request-id": rid})
            return
        call.status, call.decision, call.end_user = 200, "webhook", handled.end_user
        call.reasons.append(f"webhook_{handled.outcome}")
        if handled.action:
            call.reasons.append(f"end_user_{handled.action}")
        acted = handled.outcome == "acted"
        # attributed to the upstream key whose project OpenAI named (its standing reads it)
        await self.audit.record_under(call, handled.upstream, durable=acted, commit=acted)
        await send_json(send, 200, {"received": True, "outcome": handled.outcome},
                        {"x-request-id": rid})


def _projects(settings: Settings) -> dict[str, str]:
    """OpenAI project id → the upstream key configured with it (the first, if several)."""
    found: dict[str, str] = {}
    if settings.upstream.project:
        found[settings.upstream.project] = "default"
    for name, entry in settings.upstream.keys.items():
        if entry.project:
            found.setdefault(entry.project, name)
    return found
