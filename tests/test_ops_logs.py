"""Logs: JSON lines with the request bound; never prompt text, raw end-user ids or secrets."""

from __future__ import annotations

import io
import json
import logging
import time
from typing import Any

import httpx2
import openai
import pytest

from goodstanding.endusers.identity import safety_identifier
from goodstanding.ops.logs import JsonFormatter, TextFormatter, configure
from goodstanding.settings import Settings
from tests.conftest import UPSTREAM_KEY
from tests.scale_helpers import free_port
from tests.test_detectors_proxy import DAN
from tests.test_webhooks import SECRET, blocked, delivery, known_user, post

MODEL = "gpt-4o-mini"
MARKER = "quokkazanzibar"  # lower case: end-user ids are case-folded


@pytest.fixture
def captured():
    """Every log line of the process, formatted as the gateway writes them off a terminal."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def attempt(work: Any) -> None:
    try:
        work()
    except openai.APIError:
        pass  # refusals and errors are part of the scenario


def test_a_scenario_logs_no_text_and_no_secret(start_gateway, sim, captured):
    alert_url = f"http://127.0.0.1:{free_port()}/hooks/secret-path-TOKEN9876"  # nobody listens
    metrics_token = "metrics-token-SECRET-4321"
    gw = start_gateway(
        OPENAI_WEBHOOK_SECRET=SECRET, GOODSTANDING_SERVER__ACCESS_LOG="true",
        GOODSTANDING_SERVER__METRICS_TOKEN=metrics_token,
        GOODSTANDING_ALERTS__TARGETS=json.dumps({"ops": {"type": "json", "url": alert_url}}),
        GOODSTANDING_ALERTS__RETRIES="1", GOODSTANDING_ALERTS__BACKOFF="0.01s")
    gw.gateway.enforcer.cache.ttl = 0
    client, user = gw.client(), f"user-{MARKER}"

    def say(text: str, who: str = user, **kwargs: Any) -> None:
        attempt(lambda: client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": text}], safety_identifier=who,
            **kwargs))

    say(f"hello {MARKER}")
    attempt(lambda: list(client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": f"story {MARKER}"}],
        safety_identifier=user, stream=True)))
    say(f"[[flag:violence]] {MARKER}")  # refused, a strike
    say(f"{DAN} {MARKER}", f"jb-{MARKER}")  # a jailbreak
    say(f"{MARKER} [[fault:invalid_prompt]]", f"pol-{MARKER}")  # OpenAI's policy error
    say(f"{MARKER} [[fault:500]]", f"err-{MARKER}")  # an upstream failure
    say(f"[[flag:sexual/minors]] {MARKER}", f"zt-{MARKER}")  # zero tolerance: ban and alert
    for _ in range(3):  # suspended at the third strike
        say(f"[[flag:harassment]] {MARKER}", f"sus-{MARKER}")
    attempt(lambda: gw.client(api_key=f"gsk-{MARKER}").models.list())  # unknown key
    httpx2.post(f"{gw.url}/v1/chat/completions", content=f'{{"bad json {MARKER}',
                headers={"authorization": f"Bearer {gw.token}"})
    sid = known_user(gw, f"hook-{MARKER}")
    body, headers = delivery(blocked(sid))
    post(gw, body.replace(b"cyber", MARKER.encode()), headers)  # forged: refused
    post(gw, *delivery(blocked(sid)))  # acted on: ban, alerts (whose delivery fails)
    assert httpx2.get(f"{gw.url}/metrics",
                      headers={"authorization": f"Bearer {metrics_token}"}).status_code == 200
    deadline = time.monotonic() + 5
    while "alert given_up" not in captured.getvalue():
        assert time.monotonic() < deadline, "the failing alert was never given up"
        time.sleep(0.05)

    # the gateway's lines (this process also holds the test's own SDK client)
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    lines = [line for line in lines if line["logger"].split(".")[0] in ("goodstanding",
                                                                        "uvicorn")]
    text = "\n".join(json.dumps(line) for line in lines)
    assert MARKER not in text.lower()
    secrets = [ gw.settings.identity.secret, UPSTREAM_KEY, SECRET, metrics_token,
               "TOKEN9876", gw.token, gw.token.split("-", 2)[-1]]
    for secret in secrets:
        assert secret not in text, secret
    access = [line for line in lines if line["logger"] == "goodstanding.access"]
    assert len(access) == 13  # every /v1 call of the scenario (webhooks are audited apart)
    for line in access:
        assert line["request_id"].startswith("req_") and line["status"] > 0
    bound = [line for line in access if line.get("end_user")]
    assert bound and all(len(line["end_user"]) == 16 for line in bound)
    assert {line["key_id"] for line in bound} == {gw.key_id}
    refused = next(line for line in access if line["status"] == 400 and line.get("end_user"))
    assert refused["decision"] == "refused"
    strikes = [line for line in lines if line["logger"] == "goodstanding.enforcement"]
    assert strikes and all("request_id" in line for line in strikes)
    assert any(line["logger"] == "goodstanding.alerts" and line["level"] == "error"
               for line in lines)  # the alert that could not be delivered


def test_an_enforcement_line_names_the_end_user_by_pseudonym(gw, sim, captured):
    """A short id was logged whole before ("end user test-app/zqx: ban …")."""
    gw.gateway.enforcer.cache.ttl = 0
    attempt(lambda: gw.client().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "[[flag:sexual/minors]] x"}],
        safety_identifier="zqx"))
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    [ban] = [line for line in lines if line["logger"] == "goodstanding.enforcement"]
    who = safety_identifier(gw.settings.identity.secret.encode(), "test-app", "zqx")[:16]
    assert ban["message"].startswith(f"end user test-app/{who}: ban by gateway")
    assert ban["end_user"] == who  # the same name as the request's own lines
    assert "zqx" not in captured.getvalue()


def test_access_log_is_off_by_default(gw, sim, captured):
    gw.client().chat.completions.create(model=MODEL, safety_identifier="u1",
                                        messages=[{"role": "user", "content": "hi"}])
    time.sleep(0.1)
    assert "goodstanding.access" not in captured.getvalue()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("stream", "expected"), [(io.StringIO(), JsonFormatter),
                                                  (Terminal(), TextFormatter)])
def test_json_off_a_terminal_text_on_one(stream, expected):
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        handler = configure(Settings(), stream)
        assert type(handler.formatter) is expected
        logging.getLogger("goodstanding.test").warning("hello %s", "there")
        line = stream.getvalue().strip()
        if expected is JsonFormatter:
            entry = json.loads(line)
            assert (entry["level"], entry["message"]) == ("warning", "hello there")
        else:
            assert line.endswith("WARNING goodstanding.test: hello there")
    finally:
        root.handlers[:], root.level = saved
