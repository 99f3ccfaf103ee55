"""Alerts reach a real webhook receiver: once per rule and subject, retried when it fails."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import openai
import pytest

from goodstanding.endusers.identity import safety_identifier
from goodstanding.ops.alerts import Alerts
from goodstanding.ops.counts import MemoryCounts
from goodstanding.ops.schemas import AlertOut
from goodstanding.runner import serve_in_thread
from goodstanding.settings import AlertSettings
from goodstanding.stores.memory import MemoryStore
from tests.test_webhooks import SECRET, blocked, delivery, known_user, post

MODEL = "gpt-4o-mini"


class Receiver:
    """A webhook receiver (ASGI, in a thread): keeps every body; fails the first N calls."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[dict[str, Any]] = []
        self.attempts = 0
        self.times: list[float] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.attempts += 1
        self.times.append(time.monotonic())
        status = 500 if self.attempts <= self.failures else 200
        if status == 200:
            self.received.append(json.loads(body))
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


@pytest.fixture
def receivers():
    started: list[Any] = []

    def start(failures: int = 0) -> tuple[Receiver, str]:
        receiver = Receiver(failures)
        context = serve_in_thread(receiver)
        started.append(context)
        return receiver, context.__enter__()

    yield start
    for context in started:
        context.__exit__(None, None, None)


def alerting(start_gateway, targets: dict[str, Any], rules: list[dict[str, Any]] | None = None,
             **env: str):
    settings = {"GOODSTANDING_ALERTS__TARGETS": json.dumps(targets),
                "GOODSTANDING_ALERTS__BACKOFF": "0.05s", "GOODSTANDING_ALERTS__RETRIES": "3",
                "OPENAI_WEBHOOK_SECRET": SECRET, **env}
    if rules is not None:
        settings["GOODSTANDING_ALERTS__RULES"] = json.dumps(rules)
    gw = start_gateway(**settings)
    gw.gateway.enforcer.cache.ttl = 0
    return gw


def chat(gw: Any, text: str, user: str) -> None:
    try:
        gw.client().chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": text}], safety_identifier=user)
    except openai.APIStatusError:
        pass


def wait_for(predicate: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def listed(gw: Any) -> list[dict[str, Any]]:
    ops = gw.gateway.ops
    found = asyncio.run_coroutine_threadsafe(ops.recent_alerts(), ops.loop).result(10)
    for alert in found:
        AlertOut.model_validate(alert)  # the admin API's documented shape, exactly
    return found


def test_a_zero_tolerance_alert_reaches_each_webhook_exactly_once(start_gateway, sim, receivers):
    hook, hook_url = receivers()
    chat_hook, slack_url = receivers()
    gw = alerting(start_gateway, {"ops": {"type": "json", "url": hook_url},
                                  "team": {"type": "slack", "url": slack_url}},
                  [{"name": "zero", "when": "zero_tolerance", "every": "1h"}])
    chat(gw, "[[flag:sexual/minors]] first", "eve")
    wait_for(lambda: hook.received and chat_hook.received)
    chat(gw, "[[flag:sexual/minors]] again", "oscar")  # same rule within the hour: deduplicated
    time.sleep(0.5)
    assert len(hook.received) == 1 and len(chat_hook.received) == 1
    [alert] = hook.received
    assert (alert["rule"], alert["when"], alert["severity"]) == (
        "zero", "zero_tolerance", "critical")
    assert "sexual/minors" in alert["summary"] and "first" not in alert["summary"]
    assert chat_hook.received[0]["text"].startswith(":rotating_light: *goodstanding critical*")
    wait_for(lambda: len(listed(gw)) == 1)
    [record] = listed(gw)
    assert record["status"] == "sent" and record["rule"] == "zero"
    assert sorted((d["target"], d["ok"], d["attempts"]) for d in record["deliveries"]) == [
        ("ops", True, 1), ("team", True, 1)]


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(start_gateway, sim, receivers):
    hook, url = receivers(failures=2)
    gw = alerting(start_gateway, {"ops": {"type": "json", "url": url}},
                  [{"name": "notice", "when": "enforcement_webhook"}])
    sid = known_user(gw, "victor")
    body, headers = delivery(blocked(sid))
    assert post(gw, body, headers).json()["outcome"] == "acted"
    wait_for(lambda: hook.received)
    assert hook.attempts == 3  # two failures, then the delivery
    first, second = hook.times[1] - hook.times[0], hook.times[2] - hook.times[1]
    assert first >= 0.05 and second >= 0.1  # the backoff doubles
    [notice] = hook.received
    assert notice["rule"] == "notice" and notice["details"]["kind"] == "safety_identifier.blocked"
    wait_for(lambda: len(listed(gw)) == 1)
    [record] = listed(gw)
    assert record["status"] == "sent"
    assert record["deliveries"] == [{"target": "ops", "ok": True, "attempts": 3, "status": 200,
                                     "error": None}]


def test_default_rules_alert_an_enforcement_notice_and_the_ban_it_causes(start_gateway, sim,
                                                                        receivers):
    hook, url = receivers()
    gw = alerting(start_gateway, {"ops": {"type": "json", "url": url}})
    sid = known_user(gw, "victor")
    assert post(gw, *delivery(blocked(sid))).json()["outcome"] == "acted"
    wait_for(lambda: len(hook.received) == 2)
    assert sorted(a["rule"] for a in hook.received) == ["end-user-banned", "enforcement-webhook"]


def test_a_ban_alert_names_the_end_user_by_pseudonym_never_by_id(start_gateway, sim, receivers):
    """Alerts go to Slack or email: a short id ("bob") must not appear in them whole or cut."""
    slack, url = receivers()
    gw = alerting(start_gateway, {"team": {"type": "slack", "url": url}},
                  [{"name": "banned", "when": "ban", "every": "1h"}])
    chat(gw, "[[flag:sexual/minors]] x", "bob")  # zero tolerance: banned at once
    wait_for(lambda: slack.received)
    [alert] = slack.received
    who = safety_identifier(gw.settings.identity.secret.encode(), "test-app", "bob")[:16]
    assert f"End user test-app/{who} banned" in alert["text"]
    assert "bob" not in alert["text"]


def test_an_alert_no_target_takes_is_given_up_and_recorded(start_gateway, sim, receivers):
    hook, url = receivers(failures=100)
    gw = alerting(start_gateway, {"ops": {"type": "json", "url": url}},
                  [{"name": "quota", "when": "insufficient_quota"}],
                  GOODSTANDING_ALERTS__RETRIES="1")
    chat(gw, "hello [[fault:insufficient_quota]]", "alice")
    wait_for(lambda: len(listed(gw)) == 1)
    [record] = listed(gw)
    assert record["status"] == "given_up" and hook.attempts == 2
    assert record["deliveries"] == [{"target": "ops", "ok": False, "attempts": 2,
                                     "status": 500, "error": "HTTP 500"}]
    assert url not in json.dumps(record)


async def test_threshold_and_rate_of_change_rules_read_the_report():
    from goodstanding.ops.standing import StandingMonitor
    from tests.test_ops_standing import Clock, call_with

    clock = Clock(1_800_000_000.0)
    counts, store = MemoryCounts(), MemoryStore()
    settings = AlertSettings.model_validate({"rules": [
        {"name": "high", "when": "score_above", "threshold": 40, "window": "1h"},
        {"name": "rise", "when": "score_rise", "threshold": 30, "window": "1h"},
        {"name": "jb", "when": "signal_above", "signal": "jailbreak", "threshold": 5,
         "window": "1h"}]})
    alerts, monitor = Alerts(settings, counts, store, clock), StandingMonitor(counts, clock)
    for _ in range(8):
        monitor.count(call_with(["jailbreak_detected"]))
    await monitor.flush()
    await alerts.evaluate(await monitor.report())
    await alerts.evaluate(await monitor.report())  # the same again: deduplicated
    assert sorted(a["rule"] for a in await alerts.recent()) == ["high", "jb", "rise"]
    assert all(a["status"] == "logged" for a in await alerts.recent())  # no target configured


async def smtp_server(received: list[str]) -> asyncio.AbstractServer:
    """Just enough SMTP to take one message (no TLS, no auth)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 test ESMTP\r\n")
        lines: list[bytes] | None = None
        while line := await reader.readline():
            if lines is not None:
                if line != b".\r\n":
                    lines.append(line)
                    continue
                received.append(b"".join(lines).decode())
                lines, reply = None, b"250 queued"
            else:
                verb = line[:4].upper()
                reply = {b"DATA": b"354 go on", b"QUIT": b"221 bye"}.get(verb, b"250 ok")
                if verb == b"DATA":
                    lines = []
            writer.write(reply + b"\r\n")
            await writer.drain()
            if reply.startswith(b"221"):
                break
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def test_moderation_unavailable_alerts_by_email():
    from goodstanding.ops import Ops
    from goodstanding.settings import Settings
    from tests.test_ops_standing import call_with

    received: list[str] = []
    server = await smtp_server(received)
    port = server.sockets[0].getsockname()[1]
    settings = Settings(alerts=AlertSettings.model_validate({
        "targets": {"mail": {"type": "email", "smtp_host": "127.0.0.1", "smtp_port": port,
                             "smtp_tls": False, "sender": "gateway@example.com",
                             "to": ["oncall@example.com"]}},
        "rules": [{"name": "moderation", "when": "moderation_unavailable"}]}))
    ops = Ops(settings, MemoryCounts(), MemoryStore())
    try:
        call = call_with(["moderation_unavailable"], status=503, decision="failed")
        await ops.finisher.finish(call, None)
        await ops.finisher.finish(call, None)  # the same rule again: deduplicated
        await ops.alerts.close()  # waits for the deliveries in flight
    finally:
        server.close()
    [message] = received
    assert "Subject: [goodstanding critical] moderation" in message
    assert "To: oncall@example.com" in message and "requests are refused" in message
    [alert] = await ops.recent_alerts()
    assert alert["status"] == "sent" and alert["deliveries"][0]["attempts"] == 1
