"""The compliance report for a scripted scenario played through a real gateway with the
official SDK: its counts are the scenario's, exactly; the HTML parses and shows them; the JSON
matches the schema docs/report.md describes; no secret and no prompt text in either."""

from __future__ import annotations

import json
import time
from html.parser import HTMLParser
from typing import Any

import openai
import pytest

from goodstanding.cli import main

MODEL = "gpt-4o-mini"
HELLO: Any = [{"role": "user", "content": "hello there"}]
VIOLENT: Any = [{"role": "user", "content": "[[flag:violence]] the secret marker text"}]
ADMIN = "report-admin-token-0123456789"


def play(gw: Any) -> None:
    client = gw.client()
    for user in ("alice", "bob"):
        for _ in range(2):
            client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier=user)
    for _ in range(3):  # three strikes: mallory is suspended (strikes.suspend_at)
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model=MODEL, messages=VIOLENT,
                                           safety_identifier="mallory")
    with pytest.raises(openai.PermissionDeniedError):  # refused: suspended
        client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="mallory")


def records(gw: Any) -> int:
    return len(gw.store_call("query_audit", limit=1000))


def settle(gw: Any, expected: int) -> None:
    deadline = time.monotonic() + 5
    while records(gw) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert records(gw) == expected


class Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, str] = {}
        self.stack: list[str | None] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack.append(dict(attrs).get("id"))

    def handle_endtag(self, tag: str) -> None:
        if self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self.stack and self.stack[-1]:
            self.ids[self.stack[-1]] = self.ids.get(self.stack[-1], "") + data


def run_report(gw: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, fmt: str) -> str:
    monkeypatch.setenv("GOODSTANDING_DATABASE_URL", gw.db_url)
    monkeypatch.setenv("GOODSTANDING_ADMIN_TOKEN", ADMIN)
    out = tmp_path / f"report.{fmt}"
    assert main(["report", "--since", "1d", "--format", fmt, "--out", str(out)]) == 0
    return out.read_text()


def test_the_report_counts_are_the_scenarios(start_gateway, monkeypatch, tmp_path):
    gw = start_gateway(GOODSTANDING_ADMIN_TOKEN=ADMIN)
    play(gw)
    settle(gw, 8)
    report = json.loads(run_report(gw, monkeypatch, tmp_path, "json"))
    assert report["schema_version"] == 1
    assert report["traffic"]["requests"] == 8
    assert report["traffic"]["decisions"] == {"allowed": 4, "refused": 4}
    cov = report["coverage"]
    assert (cov["forwarded"], cov["input_moderated"], cov["input_share"]) == (4, 4, 1.0)
    assert (cov["answered"], cov["output_moderated"], cov["output_share"]) == (4, 4, 1.0)
    assert cov["exceptions"] == []
    assert report["flags"] == [{"category": "violence", "side": "input", "outcome": "refused",
                                "count": 3}]
    enforcement = report["enforcement"]
    assert enforcement["strikes"] == 3
    assert enforcement["suspensions"] == 1 and enforcement["bans"] == 0
    assert {a["end_user"] for a in enforcement["action_list"]} == {"mallory"}
    assert report["standing"]["signals"] == {"input_flag:violence": 3}
    assert report["standing"]["score"] > 0
    assert report["policy"]["calls"] == 8 and report["policy"]["policy_version"] == 1
    # secrets redacted, no prompt text
    text = json.dumps(report)
    assert ADMIN not in text and "secret marker" not in text
    assert "storage" not in report["configuration"]  # database URL: not a protection setting
    assert report["configuration"]["moderation"]["input"] == "block"


def test_the_html_report_parses_and_shows_the_counts(start_gateway, monkeypatch, tmp_path,
                                                     capsys):
    gw = start_gateway(GOODSTANDING_ADMIN_TOKEN=ADMIN)
    play(gw)
    settle(gw, 8)
    page = run_report(gw, monkeypatch, tmp_path, "html")
    err = capsys.readouterr().err
    assert "audit records read: 8" in err  # progress, on stderr
    parser = Text()
    parser.feed(page)
    parser.close()
    assert parser.ids["requests"] == "8"
    assert parser.ids["strikes"] == "3"
    assert parser.ids["suspensions"] == "1"
    assert parser.ids["bans"] == "0"
    assert parser.ids["policy-version"] == "1"
    assert "<svg" in page and "class='bar'" in page
    assert "violence" in "".join(parser.text)
    assert ADMIN not in page and "secret marker" not in page


def test_an_empty_period_reports_no_coverage_rather_than_a_made_up_one(
        gw, monkeypatch, tmp_path):
    report = json.loads(run_report(gw, monkeypatch, tmp_path, "json"))
    assert report["traffic"]["requests"] == 0
    assert report["coverage"]["input_share"] is None
    assert report["enforcement"]["strikes"] == 0


def test_a_bad_period_is_one_line_and_exit_2(capsys):
    assert main(["report", "--since", "soon"]) == 2
    assert "--since" in capsys.readouterr().err


def test_alerts_are_incidents_not_traffic(start_gateway, monkeypatch, tmp_path):
    gw = start_gateway(GOODSTANDING_ADMIN_TOKEN=ADMIN)
    play(gw)
    settle(gw, 8)
    alert = {"ts": time.time(), "request_id": "alert_test1", "key_id": None, "tenant": None,
             "end_user": None, "client_ip": None, "country": None, "method": "ALERT",
             "endpoint": "alerts", "model": None, "stream": False, "status": 200,
             "tokens_in": None, "tokens_out": None, "decision": "alert_sent",
             "reasons": ["rule:flag_rate", "when:flag_rate > 0.05", "severity:warning",
                         "delivery:ops-hook:ok:1:200:", "summary:flag rate 37 %"],
             "scores": {}, "latency_ms": None}
    gw.store_call("write_audit", [alert])  # the record ops/alerts.py writes for an alert
    report = json.loads(run_report(gw, monkeypatch, tmp_path, "json"))
    assert report["traffic"]["requests"] == 8
    [incident] = report["incidents"]
    assert (incident["rule"], incident["severity"], incident["status"]) == (
        "flag_rate", "warning", "sent")
    assert incident["deliveries"][0]["target"] == "ops-hook"
    page = run_report(gw, monkeypatch, tmp_path, "html")
    assert "flag rate 37 %" in page
