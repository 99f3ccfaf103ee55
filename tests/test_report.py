"""The compliance report for a scripted scenario played through a real gateway with the
official SDK: its counts are the scenario's, exactly; the HTML parses and shows them; the JSON
matches the schema docs/report.md describes; no secret and no prompt text in either."""

from __future__ import annotations

import json
import time
from html.parser import HTMLParser
from pathlib import Path
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
    assert report["schema_version"] == 2
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


def test_a_file_moderation_could_not_read_is_an_exception(start_gateway, monkeypatch, tmp_path):
    gw = start_gateway(GOODSTANDING_ADMIN_TOKEN=ADMIN)
    gw.client().chat.completions.create(model=MODEL, safety_identifier="alice", messages=[
        {"role": "user", "content": [
            {"type": "text", "text": "what is in this file?"},
            {"type": "file", "file": {"filename": "a.pdf", "file_id": "file-abc"}}]}])
    settle(gw, 1)
    cov = json.loads(run_report(gw, monkeypatch, tmp_path, "json"))["coverage"]
    assert (cov["forwarded"], cov["input_moderated"]) == (1, 1)  # its text was moderated
    assert [(e["reason"], e["requests"]) for e in cov["exceptions"]] == [
        ("unmoderated_input", 1)]


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


def test_alerts_are_listed_and_are_incidents_not_traffic(start_gateway, monkeypatch, tmp_path):
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
    [listed] = report["alerts"]
    assert (listed["rule"], listed["severity"], listed["status"]) == (
        "flag_rate", "warning", "sent")
    assert listed["deliveries"][0]["target"] == "ops-hook"
    [incident] = report["incidents"]  # an alert of no outage's rule: an incident of its own
    assert (incident["kind"], incident["subject"], incident["requests"]) == (
        "alert", "flag_rate", 1)
    assert incident["alerts"] == [listed]
    page = run_report(gw, monkeypatch, tmp_path, "html")
    assert "flag rate 37 %" in page


# --- incidents, PDF, progress --------------------------------------------------------------


def outage(gw: Any, sim: Any) -> None:
    """Two calls while moderation is down (failing open), one after; an operator's note."""
    client = gw.client()
    sim.config.moderation = "down"
    for n in range(2):  # texts not moderated before (a verdict would come from the cache)
        client.chat.completions.create(model=MODEL, safety_identifier="alice", messages=[
            {"role": "user", "content": f"during the outage {n}"}])
    sim.config.moderation = "ok"
    client.chat.completions.create(model=MODEL, safety_identifier="bob", messages=[
        {"role": "user", "content": "after the outage"}])


def test_the_report_lists_the_scenarios_incident_with_its_resolution(
        start_gateway, sim, monkeypatch, tmp_path):
    gw = start_gateway(GOODSTANDING_ADMIN_TOKEN=ADMIN, GOODSTANDING_ALERTS__RULES="[]",
                       GOODSTANDING_MODERATION__ON_ERROR="fail_open",
                       GOODSTANDING_MODERATION__OUTPUT="off")
    play(gw)
    outage(gw, sim)
    settle(gw, 11)
    report = json.loads(run_report(gw, monkeypatch, tmp_path, "json"))
    assert report["traffic"]["requests"] == 11
    [incident] = report["incidents"]
    assert (incident["kind"], incident["requests"], incident["passed"]) == (
        "moderation_unavailable", 2, 2)
    assert report["coverage"]["exceptions"][0]["requests"] == 2
    assert main(["incidents", "resolve", incident["id"], "--by", "ops-dana",
                 "--note", "moderation key rotated; alert on 503 added"]) == 0
    page = run_report(gw, monkeypatch, tmp_path, "html")
    parser = Text()
    parser.feed(page)
    text = "".join(parser.text)
    assert incident["id"] in text and "resolved by ops-dana" in text
    assert "moderation key rotated; alert on 503 added" in text


def pgm_pages(pdf: Any, tmp_path: Any) -> list[tuple[int, int, bytes]]:
    """Each page of the PDF as a grey image (pdftoppm), as (width, height, pixels)."""
    import subprocess

    subprocess.run(["pdftoppm", "-r", "40", "-gray", str(pdf), str(tmp_path / "page")],
                   check=True, timeout=120)
    pages = []
    for path in sorted(tmp_path.glob("page-*.pgm")):
        data = path.read_bytes()
        magic, width, height, depth, pixels = data.split(maxsplit=4)
        assert magic == b"P5" and depth == b"255"
        pages.append((int(width), int(height), pixels))
    return pages


def test_the_pdf_report_renders_to_pages_that_show_the_counts(
        start_gateway, monkeypatch, tmp_path):
    import shutil
    import subprocess

    from tests.clients.conftest import _missing

    if shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None:
        _missing("pdftoppm is missing (make pdf installs Debian's poppler-utils)")
    try:
        from goodstanding.report.pdf import available

        available()
    except Exception as exc:  # noqa: BLE001 - either cause is named in the message
        _missing(str(exc))
    gw = start_gateway(GOODSTANDING_ADMIN_TOKEN=ADMIN)
    play(gw)
    settle(gw, 8)
    monkeypatch.setenv("GOODSTANDING_DATABASE_URL", gw.db_url)
    monkeypatch.setenv("GOODSTANDING_ADMIN_TOKEN", ADMIN)
    pdf = tmp_path / "report.pdf"
    assert main(["report", "--since", "1d", "--format", "pdf", "--out", str(pdf)]) == 0
    assert pdf.read_bytes().startswith(b"%PDF-")
    pages = pgm_pages(pdf, tmp_path)
    assert len(pages) >= 2  # every section, on A4
    for width, height, pixels in pages:
        assert len(pixels) == width * height
        dark = sum(1 for value in pixels[::7] if value < 128)
        assert dark > 50, "a blank page"  # text and charts, not an empty sheet
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True, timeout=60).stdout
    assert "Compliance report" in text and "Requests: 8" in text
    assert "violence" in text and ADMIN not in text and "secret marker" not in text
    artifacts = Path(__file__).parent / "artifacts"  # its first page, for people to look at
    subprocess.run(["pdftoppm", "-r", "60", "-png", "-singlefile", "-f", "1", "-l", "1",
                    str(pdf), str(artifacts / "report-pdf-page-1")], check=True, timeout=120)
    assert (artifacts / "report-pdf-page-1.png").stat().st_size > 10_000


def test_pdf_without_the_extra_is_one_line_naming_it(monkeypatch, capsys, gw):
    import sys

    monkeypatch.setitem(sys.modules, "weasyprint", None)  # as if not installed
    monkeypatch.setenv("GOODSTANDING_DATABASE_URL", gw.db_url)
    assert main(["report", "--format", "pdf", "--out", "never.pdf"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("goodstanding: --format pdf needs the pdf extra: "
                   "pip install 'goodstanding[pdf]'")


def test_progress_is_shown_page_by_page_on_a_large_database(gw, monkeypatch, tmp_path):
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    now = time.time()
    base = {"request_id": "r", "key_id": None, "tenant": "t", "end_user": "u",
            "client_ip": None, "country": None, "method": "POST",
            "endpoint": "chat.completions", "model": MODEL, "stream": False, "status": 200,
            "tokens_in": 1, "tokens_out": 1, "decision": "allowed", "reasons": [],
            "scores": {}, "latency_ms": 1.0}
    gw.store_call("write_audit", [{**base, "ts": now - 60 + i * 0.01} for i in range(2500)])
    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    report = json.loads(run_report(gw, monkeypatch, tmp_path, "json"))
    assert report["traffic"]["requests"] == 2500
    shown = screen.getvalue()
    assert shown.startswith("\raudit records read: 1000\raudit records read: 2000"
                            "\raudit records read: 2500\n")  # rewritten in place, per page


def test_an_answer_withheld_for_its_record_counts_as_forwarded_and_answered(
        tmp_path, monkeypatch):
    """A call answered upstream whose record could not be made durable was withheld (503,
    ``store_unavailable:audit``, audit.py): forwarded and answered, not a failure."""
    import asyncio

    from goodstanding.audit import to_record, withheld
    from goodstanding.call import Call
    from goodstanding.stores import open_store

    url = f"sqlite:///{tmp_path / 'gs.db'}"
    call = Call(request_id="req-withheld", method="POST", path="/v1/chat/completions",
                endpoint="chat.completions", headers={}, client_ip="127.0.0.1", model=MODEL)
    call.status, call.decision = 200, "allowed"
    record = to_record(call)
    withheld(record)
    assert (record["status"], record["decision"]) == (503, "allowed")

    async def write() -> None:
        store = open_store(url)
        try:
            await store.migrate()
            await store.write_audit([record])
        finally:
            await store.close()

    asyncio.run(write())
    monkeypatch.setenv("GOODSTANDING_DATABASE_URL", url)
    monkeypatch.setenv("GOODSTANDING_ADMIN_TOKEN", ADMIN)
    out = tmp_path / "report.json"
    assert main(["report", "--since", "1d", "--format", "json", "--out", str(out)]) == 0
    cov = json.loads(out.read_text())["coverage"]
    assert (cov["forwarded"], cov["answered"]) == (1, 1)


def test_streams_that_end_early_are_counted_for_what_they_were(start_gateway, sim, monkeypatch,
                                                               tmp_path):
    """A stream the upstream broke was forwarded and not answered, and is an upstream incident;
    one the client left was answered as far as the client read."""
    gw = start_gateway(GOODSTANDING_ADMIN_TOKEN=ADMIN)
    client = gw.client()
    with pytest.raises(openai.APIError):
        list(client.chat.completions.create(model=MODEL, stream=True, safety_identifier="alice",
                                            messages=[{"role": "user", "content":
                                                       "[[fault:disconnect]] [[words:200]]"}]))
    sim.config.chunk_delay = 0.05
    left = client.chat.completions.create(model=MODEL, stream=True, safety_identifier="bob",
                                          messages=[{"role": "user", "content": "[[words:200]]"}])
    next(iter(left))
    left.close()
    settle(gw, 2)
    report = json.loads(run_report(gw, monkeypatch, tmp_path, "json"))
    assert report["traffic"]["decisions"] == {"allowed": 1, "upstream_error": 1}
    cov = report["coverage"]
    assert (cov["forwarded"], cov["input_moderated"], cov["answered"]) == (2, 2, 1)
    [incident] = report["incidents"]
    assert (incident["kind"], incident["requests"]) == ("upstream_unavailable", 1)
