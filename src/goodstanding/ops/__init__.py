"""Operations: the standing score, alerts, logs — what an operator watches.

``Ops`` is what the gateway holds (``gateway.ops``); the admin API mounts two of its methods:

    GET /admin/api/standing   ->  await gateway.ops.standing()        (a JSON-ready dict)
    GET /admin/api/alerts     ->  await gateway.ops.recent_alerts(n)  (a list of dicts)

Its finisher (the last of the pipeline's) counts each call for the score, fires the event
alert rules a call can trigger, and writes the access log line when ``server.access_log``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from goodstanding.endusers.identity import pseudonym
from goodstanding.errors import UpstreamCredentialsRefused
from goodstanding.ops.alerts import Alerts
from goodstanding.ops.counts import open_counts
from goodstanding.ops.logs import access
from goodstanding.ops.standing import StandingMonitor, StandingReport
from goodstanding.settings import parse_duration
from goodstanding.stores.base import Counts

if TYPE_CHECKING:
    from goodstanding.call import Call
    from goodstanding.enforcement.standing import Action
    from goodstanding.errors import GatewayError
    from goodstanding.settings import Settings
    from goodstanding.stores.base import AuditStore

log = logging.getLogger("goodstanding.ops")


class Ops:
    def __init__(self, settings: Settings, counts: Counts, store: AuditStore | None,
                 clock: Callable[[], float] = time.time, secret: str | None = None) -> None:
        self.settings = settings
        self.counts = counts
        # alerts name end users by their safety identifier, never by their id (README, Logs)
        self.secret = secret
        self.monitor = StandingMonitor(counts, clock, secret)
        self.alerts = Alerts(settings.alerts, counts, store, clock)
        self.finisher = OpsFinisher(self)
        self._evaluator: asyncio.Task[None] | None = None
        # the gateway's event loop, once started (tests and other threads submit coroutines)
        self.loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def build(cls, settings: Settings, store: AuditStore | None, secret: str | None = None) -> Ops:
        return cls(settings, open_counts(settings.storage.redis_url), store, secret=secret)

    @property
    def clock(self) -> Callable[[], float]:
        return self.monitor.clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        """Tests move time: the counts' buckets and the alerts' claims follow."""
        self.monitor.clock = self.alerts.clock = clock

    # --- what the admin API mounts ----------------------------------------------------------

    async def report(self) -> StandingReport:
        await self.monitor.flush()  # this process's last second counts too
        return await self.monitor.report()

    async def standing(self) -> dict[str, Any]:
        """``GET /admin/api/standing``: the full report as a JSON-ready dict."""
        return (await self.report()).to_dict()

    async def recent_alerts(self, limit: int = 100) -> list[dict[str, Any]]:
        """``GET /admin/api/alerts``: the latest alerts with each target's delivery."""
        return await self.alerts.recent(limit)

    # --- events from outside the pipeline ---------------------------------------------------

    def enforcement_notice(self, kind: str, tenant: str, end_user: str, action: str | None,
                           notice_id: str, category: str | None,
                           upstream: str | None = None) -> None:
        """An OpenAI enforcement webhook was acted on (``enforcement/webhooks.py``);
        ``upstream``: the upstream key whose project it names, if any."""
        self.monitor.record("enforcement_webhook", tenant, end_user)
        what = "banned" if action == "ban" else "suspended"
        where = f" (upstream key {upstream})" if upstream else ""
        self.alerts.fire(
            "enforcement_webhook",
            f"OpenAI sent {kind}" + (f" ({category})" if category else "")
            + f"{where}: the end user of tenant {tenant} was {what}. OpenAI has acted on this "
            "organization's traffic; read the notice and answer within its deadline.",
            subject=notice_id, kind=kind, tenant=tenant, action=action, category=category,
            upstream=upstream)

    def on_action(self, action: Action) -> None:
        """Every enforcement action (``Enforcer``): bans alert."""
        if action.action == "ban":
            who = pseudonym(self.secret, action.tenant, action.end_user)
            self.alerts.fire("ban", f"End user {action.tenant}/{who} banned by {action.by}"
                             f" ({action.reason or 'no reason given'}).",
                             tenant=action.tenant, by=action.by)

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        if self.alerts.periodic and self.settings.alerts.targets:
            self._evaluator = asyncio.get_running_loop().create_task(
                self._evaluate_forever(), name="alert-rules")

    async def _evaluate_forever(self) -> None:
        every = parse_duration(self.settings.alerts.evaluate_every)
        while True:
            await asyncio.sleep(every)
            try:
                await self.alerts.evaluate(await self.report())
            except Exception:
                log.exception("alert rules could not be evaluated")

    async def close(self) -> None:
        if self._evaluator is not None:
            self._evaluator.cancel()
        await self.monitor.close()
        await self.alerts.close()
        await self.counts.close()


class OpsFinisher:
    """The last finisher: count the call for the score; fire the event rules it triggers."""

    name = "ops"

    def __init__(self, ops: Ops) -> None:
        self.ops = ops
        self.monitor = ops.monitor
        self.access_log = ops.settings.server.access_log

    async def finish(self, call: Call, error: GatewayError | None) -> None:
        found = self.monitor.count(call)
        if call.reasons:
            self._events(call, found)
        if self.access_log:
            access(call)

    def _events(self, call: Call, found: list[str]) -> None:
        fire = self.ops.alerts.fire
        tenant = call.key.tenant if call.key else None
        if "zero_tolerance" in found:
            categories = sorted({c for o in call.offences if o.zero_tolerance
                                 for c in o.categories})
            fire("zero_tolerance", f"Zero-tolerance content ({', '.join(categories)}) from an "
                 f"end user of tenant {tenant}; request {call.request_id}.",
                 tenant=tenant, request_id=call.request_id, categories=categories)
        if "moderation_unavailable" in call.reasons or \
                "output_moderation_unavailable" in call.reasons:
            fire("moderation_unavailable", "The moderation endpoint is unavailable: requests "
                 f"are {'refused' if call.status == 503 else 'passing unmoderated'} "
                 f"(request {call.request_id}).", request_id=call.request_id)
        if call.upstream.error_code == "insufficient_quota":
            fire("insufficient_quota", "OpenAI answers insufficient_quota: the organization's "
                 "credit or budget is exhausted; every call fails until it is topped up.",
                 request_id=call.request_id)
        if UpstreamCredentialsRefused.reason in call.reasons:
            upstream = (call.key.upstream if call.key else None) or "default"
            fire("upstream_credentials_refused", f"The upstream refuses upstream key "
                 f"{upstream} (401/403): every call through it fails until the key or its "
                 "project's permissions are fixed.", subject=upstream, upstream=upstream,
                 request_id=call.request_id)


__all__ = ["Ops", "OpsFinisher"]
