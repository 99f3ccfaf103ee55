"""Alerts: rules on the signals and the score, delivered to webhooks (or email), recorded.

    fire      an event rule's trigger (a zero-tolerance hit, an enforcement webhook, a ban,
              moderation unavailable, upstream ``insufficient_quota``, the upstream
              refusing the gateway's own key, a key nearing its
              maximum age, a failed scheduled rotation) calls ``fire(when, …)``;
              threshold and rate-of-change rules (``score_above``, ``score_rise``,
              ``signal_above``) are checked on the standing report every
              ``alerts.evaluate_every``
    dedupe    each alert claims ``rule + subject`` for the rule's ``every`` in the counts store
              (Redis when configured: every worker shares the claim), so a rule alerts at most
              once per ``every`` (per subject: each enforcement notice is its own subject)
    deliver   to each target: generic JSON (the alert object) or Slack-compatible
              (``{"text": …}``) webhooks, or email through SMTP; a failed delivery (an error,
              a timeout, a non-2xx answer) is retried ``alerts.retries`` times with doubling
              backoff, in the background
    record    every alert, sent or given up, is an audit event (``endpoint="alerts"``,
              decision ``alert_sent`` / ``alert_given_up`` / ``alert_logged`` when no target is
              configured) listed by ``recent()``; what it says is built from counts,
              categories and ids — never request text, never a target's URL or headers.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from goodstanding import metrics
from goodstanding.settings import AlertRule, AlertSettings, AlertTarget, parse_duration

if TYPE_CHECKING:
    from goodstanding.ops.standing import StandingReport
    from goodstanding.stores.base import AuditStore, Counts

log = logging.getLogger("goodstanding.alerts")

ALERTS = metrics.counter("goodstanding_alerts_total",
                         "Alerts by rule and outcome (sent, given_up, logged, suppressed).",
                         ("rule", "outcome"))
EVENT_RULES = frozenset({"zero_tolerance", "enforcement_webhook", "ban",
                         "moderation_unavailable", "insufficient_quota",
                         "upstream_credentials_refused", "rotation_due", "rotation_failed"})
DECISIONS = ("alert_sent", "alert_given_up", "alert_logged")

DEFAULT_RULES = (
    AlertRule(name="standing-at-risk", when="score_above", threshold=50, window="24h",
              every="1h"),
    AlertRule(name="standing-rising", when="score_rise", threshold=20, window="1h", every="1h"),
    AlertRule(name="zero-tolerance", when="zero_tolerance", every="5m"),
    AlertRule(name="enforcement-webhook", when="enforcement_webhook", every="1d"),
    AlertRule(name="end-user-banned", when="ban", every="5m"),
    AlertRule(name="moderation-unavailable", when="moderation_unavailable", every="15m"),
    AlertRule(name="insufficient-quota", when="insufficient_quota", every="1h"),
    AlertRule(name="upstream-credentials-refused", when="upstream_credentials_refused",
              every="15m"),
    # a virtual or upstream key nearing its maximum age (rotation_schedule.py), once a day each
    AlertRule(name="rotation-due", when="rotation_due", every="1d"),
    AlertRule(name="rotation-failed", when="rotation_failed", every="1h"),
)
SEVERITY = {"zero_tolerance": "critical", "enforcement_webhook": "critical", "ban": "warning",
            "moderation_unavailable": "critical", "insufficient_quota": "critical",
            "upstream_credentials_refused": "critical",
            "rotation_due": "warning", "rotation_failed": "critical",
            "score_above": "warning", "score_rise": "warning", "signal_above": "warning"}


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    rule: str
    when: str
    severity: str
    summary: str
    at: float
    details: Mapping[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        data = asdict(self)
        data["details"] = dict(self.details)
        data["source"] = "goodstanding"
        data["at_iso"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at))
        return data


@dataclass(frozen=True, slots=True)
class Delivery:
    target: str
    ok: bool
    attempts: int
    status: int | None = None
    error: str | None = None


class Alerts:
    def __init__(self, settings: AlertSettings, counts: Counts, store: AuditStore | None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.counts = counts
        self.store = store
        self.clock = clock
        self.rules = settings.rules if settings.rules is not None else DEFAULT_RULES
        self.retries = settings.retries
        self.backoff = parse_duration(settings.backoff)
        self.timeout = parse_duration(settings.timeout)
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: Any = None

    @property
    def periodic(self) -> bool:
        return any(rule.when not in EVENT_RULES for rule in self.rules)

    # --- triggers ---------------------------------------------------------------------------

    def fire(self, when: str, summary: str, subject: str = "", **details: Any) -> None:
        """An event happened: every rule on it alerts (deduplicated), in the background."""
        for rule in self.rules:
            if rule.when == when:
                self._spawn(self._alert(rule, summary, subject, details))

    async def evaluate(self, report: StandingReport) -> None:
        """The threshold and rate-of-change rules, on a fresh standing report."""
        for rule in self.rules:
            found = _check(rule, report)
            if found is not None:
                await self._alert(rule, found, "", {"window": rule.window,
                                                    "score": report.score})

    def _spawn(self, work: Any) -> None:
        try:
            task = asyncio.get_running_loop().create_task(work)
        except RuntimeError:
            work.close()
            log.error("alert dropped: no event loop to deliver it on")
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _alert(self, rule: AlertRule, summary: str, subject: str,
                     details: dict[str, Any]) -> Alert | None:
        now = self.clock()
        try:
            fresh = await self.counts.claim(f"alert:{rule.name}:{subject}",
                                            max(parse_duration(rule.every), 0.001), now)
        except (OSError, TimeoutError):
            fresh = True  # the shared store is down: better twice than never
        if not fresh:
            ALERTS.inc(rule.name, "suppressed")
            return None
        alert = Alert("alert_" + secrets.token_hex(8), rule.name, rule.when,
                      SEVERITY.get(rule.when, "warning"), summary[:500], now, details)
        names = rule.targets or tuple(self.settings.targets)
        deliveries = await asyncio.gather(*(self._deliver(n, alert) for n in names))
        await self._record(alert, list(deliveries))
        return alert

    # --- delivery ---------------------------------------------------------------------------

    async def _deliver(self, name: str, alert: Alert) -> Delivery:
        target = self.settings.targets.get(name)
        if target is None:
            return Delivery(name, False, 0, error="unknown target")
        delay, attempt, last = self.backoff, 0, Delivery(name, False, 0)
        while True:
            attempt += 1
            try:
                status = await self._send(target, alert)
            except Exception as exc:  # noqa: BLE001 - any failure to deliver is retried
                last = Delivery(name, False, attempt, error=type(exc).__name__)
            else:
                if 200 <= status < 300:
                    return Delivery(name, True, attempt, status)
                last = Delivery(name, False, attempt, status, f"HTTP {status}")
            if attempt > self.retries:
                return last
            log.warning("alert %s to %s failed (%s); retry in %gs", alert.id, name,
                        last.error, delay)
            await asyncio.sleep(delay)
            delay *= 2

    async def _send(self, target: AlertTarget, alert: Alert) -> int:
        if target.type == "email":
            return await asyncio.to_thread(_email, target, alert, self.timeout)
        if not target.url:
            raise ValueError("target has no url")
        body = slack(alert) if target.type == "slack" else alert.payload()
        session = await self._client()
        import aiohttp

        headers = {"content-type": "application/json", **target.headers}
        async with session.post(target.url, data=orjson.dumps(body), headers=headers,
                                timeout=aiohttp.ClientTimeout(total=self.timeout)) as response:
            await response.read()
            return int(response.status)

    async def _client(self) -> Any:
        if self._session is None:
            import aiohttp

            self._session = aiohttp.ClientSession()
        return self._session

    # --- the record -------------------------------------------------------------------------

    async def _record(self, alert: Alert, deliveries: list[Delivery]) -> None:
        if not deliveries:
            outcome = "logged"
        else:
            outcome = "sent" if any(d.ok for d in deliveries) else "given_up"
        ALERTS.inc(alert.rule, outcome)
        level = logging.WARNING if outcome != "given_up" else logging.ERROR
        log.log(level, "alert %s (%s, %s): %s", outcome, alert.rule, alert.severity,
                alert.summary, extra={"alert_id": alert.id})
        if self.store is None:
            return
        from goodstanding.audit import bound_record

        reasons = [f"rule:{alert.rule}", f"when:{alert.when}", f"severity:{alert.severity}",
                   *(f"delivery:{d.target}:{'ok' if d.ok else 'failed'}:{d.attempts}:"
                     f"{d.status or ''}:{d.error or ''}" for d in deliveries),
                   f"summary:{alert.summary}"]
        record = bound_record({
            "ts": alert.at, "request_id": alert.id, "key_id": None, "tenant": None,
            "end_user": None, "client_ip": None, "country": None, "method": "ALERT",
            "endpoint": "alerts", "model": None, "stream": False,
            "status": next((d.status for d in deliveries if d.status), None),
            "tokens_in": None, "tokens_out": None, "decision": f"alert_{outcome}",
            "reasons": reasons, "scores": {}, "latency_ms": None,
        })
        try:
            await self.store.write_audit([record])
        except Exception as exc:  # noqa: BLE001 - the alert went out; its record is best effort
            metrics.STORE_ERRORS.inc("database")
            log.error("alert %s not recorded: %s", alert.id, type(exc).__name__)

    async def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest alerts, newest first, with each target's delivery."""
        if self.store is None:
            return []
        rows: list[dict[str, Any]] = []
        for decision in DECISIONS:
            rows += await self.store.query_audit(decision=decision, limit=limit)
        rows.sort(key=lambda r: r["ts"], reverse=True)
        return [_listed(row) for row in rows[:limit]]

    async def close(self) -> None:
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=2.0)
            for task in pending:
                task.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None


def _check(rule: AlertRule, report: StandingReport) -> str | None:
    """The summary when a threshold or rate-of-change rule holds on the report, else None."""
    if rule.when in EVENT_RULES:
        return None
    window = report.window(rule.window)
    if rule.when == "score_above":
        level = 50.0 if rule.threshold is None else rule.threshold
        if window.score >= level:
            return (f"Standing score {window.score:g} over the last {rule.window} "
                    f"(alert at {level:g}). {report.actions[0]}")
    elif rule.when == "score_rise":
        points = 20.0 if rule.threshold is None else rule.threshold
        if window.score - window.previous_score >= points:
            return (f"Standing score rose from {window.previous_score:g} to {window.score:g} "
                    f"within {rule.window}. {report.actions[0]}")
    elif rule.when == "signal_above" and rule.signal:
        count = next((s.count for s in window.signals if s.signal == rule.signal), 0)
        if count >= (rule.threshold or 1):
            return f"{count} × {rule.signal} in the last {rule.window}."
    return None


def slack(alert: Alert) -> dict[str, Any]:
    """Slack's incoming-webhook format (also what Mattermost and Discord's /slack accept)."""
    icon = {"critical": ":rotating_light:", "warning": ":warning:"}.get(alert.severity, "")
    return {"text": f"{icon} *goodstanding {alert.severity}* ({alert.rule}): {alert.summary}"}


def _email(target: AlertTarget, alert: Alert, timeout: float) -> int:
    import smtplib
    from email.message import EmailMessage

    if not (target.smtp_host and target.sender and target.to):
        raise ValueError("email target needs smtp_host, sender and to")
    message = EmailMessage()
    message["Subject"] = f"[goodstanding {alert.severity}] {alert.rule}"
    message["From"], message["To"] = target.sender, ", ".join(target.to)
    message.set_content(f"{alert.summary}\n\n{orjson.dumps(alert.payload()).decode()}\n")
    with smtplib.SMTP(target.smtp_host, target.smtp_port, timeout=timeout) as smtp:
        if target.smtp_tls:
            smtp.starttls()
        if target.smtp_user and target.smtp_password:
            smtp.login(target.smtp_user, target.smtp_password)
        smtp.send_message(message)
    return 250


def _listed(row: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, str] = {}
    deliveries = []
    for reason in row.get("reasons") or ():
        head, _, rest = reason.partition(":")
        if head == "delivery":
            target, ok, attempts, status, error = (rest.split(":", 4) + [""] * 5)[:5]
            deliveries.append({"target": target, "ok": ok == "ok",
                               "attempts": int(attempts or 0),
                               "status": int(status) if status.isdigit() else None,
                               "error": error or None})
        else:
            fields.setdefault(head, rest)
    return {"id": row["request_id"], "at": row["ts"], "rule": fields.get("rule"),
            "when": fields.get("when"), "severity": fields.get("severity"),
            "summary": fields.get("summary"),
            "status": str(row["decision"]).removeprefix("alert_"), "deliveries": deliveries}
