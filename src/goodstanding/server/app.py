"""The ASGI application: routing, lifespan, and the last-resort error handler.

Routes are a dict and two prefixes; there is no framework between uvicorn and the proxy
handler. The admin API (``server/admin/``, FastAPI) gets ``/admin/api/…`` and nothing else. Every response carries ``x-request-id``; nothing here renders a traceback.
"""

from __future__ import annotations

import asyncio
import logging

from goodstanding import metrics
from goodstanding.errors import GatewayError, InternalError, InvalidApiKey, NotFound
from goodstanding.gateway import Gateway
from goodstanding.server import metrics_dir
from goodstanding.server.admin import create_admin
from goodstanding.server.policy_page import PATH as POLICY_PATH
from goodstanding.server.policy_page import PolicyPage
from goodstanding.server.proxy import ProxyHandler
from goodstanding.server.transport import (
    Receive,
    Scope,
    Send,
    request_id,
    send_bytes,
    send_error,
    send_json,
)

log = logging.getLogger("goodstanding.server")
ADMIN_PREFIX = "/admin/api/"


def bearer_matches(scope: Scope, token: str) -> bool:
    """Whether the request carries ``Authorization: Bearer <token>`` (constant time)."""
    import hmac

    for name, value in scope["headers"]:
        if name.lower() == b"authorization":
            scheme, _, given = value.partition(b" ")
            return scheme.lower() == b"bearer" and hmac.compare_digest(
                given.strip(), token.encode())
    return False


class GatewayApp:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.proxy = ProxyHandler(gateway)
        self._publisher: asyncio.Task[None] | None = None
        self.routes = {"/healthz": self.healthz, "/readyz": self.readyz, "/metrics": self.metrics}
        self.routes[POLICY_PATH] = PolicyPage(gateway.settings)  # the content policy end users read
        if gateway.settings.webhook_secret:  # unset: the endpoint does not exist (404)
            from goodstanding.server.webhooks import PATH, WebhookEndpoint

            self.routes[PATH] = WebhookEndpoint(gateway, gateway.settings.webhook_secret)
        # the admin API (a FastAPI app, server/admin/): only for its prefix, only when an admin
        # token is configured (FastAPI is imported then); the proxy's path never reaches it
        self.admin = create_admin(gateway)
        # the dashboard (dashboard/): the other /admin paths, beside the admin API, same condition
        self.dashboard = None
        if self.admin is not None:
            from goodstanding.dashboard import create_dashboard

            self.dashboard = create_dashboard(gateway, self.admin)

    def http_protocol(self, draining: bool = False) -> type:
        """The bounded HTTP protocol the runner serves this app with (server/protocol.py);
        ``draining``: a worker's connections are drained, not cut, when it stops (drain.py)."""
        from goodstanding.server.protocol import protocol_class

        protocol: type = protocol_class(self.gateway.settings.server)
        if draining:
            from goodstanding.server.drain import draining as drained

            protocol = drained(protocol)
        return protocol

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self.lifespan(receive, send)
            return
        if kind != "http":
            return
        path = scope["path"]
        try:
            if path.startswith("/v1/"):
                await self.proxy(scope, receive, send)
                return
            handler = self.routes.get(path)
            if handler is None and self.admin is not None and path.startswith(ADMIN_PREFIX):
                await self.admin(scope, receive, send)
                return
            if handler is None and self.dashboard is not None and (
                    path == "/admin" or path.startswith("/admin/")):
                await self.dashboard(scope, receive, send)
                return
            if handler is None:
                raise NotFound(f"No route for {path}.")
            await handler(scope, receive, send)
        except GatewayError as error:
            await send_error(send, error, {"x-request-id": request_id()})
        except Exception:  # the last resort: an envelope, never a traceback
            rid = request_id()
            log.exception("unhandled error on %s (%s)", path, rid)
            await send_error(send, InternalError("The gateway failed to handle this request."),
                             {"x-request-id": rid})

    async def healthz(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_json(send, 200, {"status": "ok"}, {"x-request-id": request_id()})

    async def readyz(self, scope: Scope, receive: Receive, send: Send) -> None:
        stores = await self.gateway.readiness()
        ready = all(state == "ok" for state in stores.values())
        body = {"status": "ready" if ready else "unavailable", "stores": stores}
        await send_json(send, 200 if ready else 503, body, {"x-request-id": request_id()})

    async def metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {"x-request-id": request_id()}
        token = self.gateway.settings.server.metrics_token
        if token and not bearer_matches(scope, token):
            raise InvalidApiKey("/metrics needs Authorization: Bearer <metrics token>.")
        folder = metrics_dir.directory()  # several workers: the sum over all of them
        body = metrics.render() if folder is None else await asyncio.to_thread(
            metrics_dir.merged, folder)
        await send_bytes(send, 200, body, headers, b"text/plain; version=0.0.4")

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.gateway.start()
                except Exception as exc:  # noqa: BLE001 - reported to uvicorn as a failed start
                    log.error("start-up failed: %s", exc)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                folder = metrics_dir.directory()
                if folder is not None:
                    self._publisher = asyncio.get_running_loop().create_task(
                        metrics_dir.publish_forever(folder), name="metrics-publisher")
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._publisher is not None:
                    self._publisher.cancel()
                await self.gateway.close()  # flushes the audit log: nothing queued is lost
                folder = metrics_dir.directory()
                if folder is not None:  # the last snapshot: this worker sends no upstream key
                    await asyncio.to_thread(metrics_dir.write, folder)
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(gateway: Gateway) -> GatewayApp:
    app = GatewayApp(gateway)
    origins = gateway.settings.server.cors_origins
    if origins:  # browsers calling the gateway directly; no wrapper (no cost) otherwise
        from goodstanding.server.cors import Cors

        return Cors(app, origins)  # type: ignore[return-value]
    return app


def app_from_env() -> GatewayApp:
    """Factory for worker processes: each reads the same settings from the environment."""
    from goodstanding.settings import load_settings

    return create_app(Gateway.build(load_settings()))
