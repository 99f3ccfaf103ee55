"""The dashboard in headless Chromium (Debian's package, driven by playwright-core from
node/dashboard.mjs): after a scenario played with the official SDK, sign in, see a non-empty
chart, find the suspended end user, ban another by clicking, see the ban refuse their next API
call, record the resolution of the moderation outage's incident, sign out and see a copy of the
cookie refused; the session cookie is HttpOnly and SameSite=Strict, a POST without the CSRF
token is refused. Screenshots: tests/artifacts/dashboard-*.png (committed)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.clients.conftest import _missing, run_node
from tests.clients.test_browser import CHROMIUM

ARTIFACTS = Path(__file__).parent.parent / "artifacts"
MODEL = "gpt-4o-mini"
HELLO: Any = [{"role": "user", "content": "hello there"}]
VIOLENT: Any = [{"role": "user", "content": "[[flag:violence]] the secret marker text"}]
ROOT = "browser-admin-token-0123456789abcdef"


def test_an_operator_bans_an_end_user_from_the_dashboard(start_gateway, node_clients, sim):
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing (make browser installs Debian's chromium)")
    gw = start_gateway(GOODSTANDING_ADMIN_TOKEN=ROOT)
    client = gw.client()
    for user in ("alice", "bob", "carol"):
        client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier=user)
    for _ in range(3):  # mallory: three strikes, suspended
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model=MODEL, messages=VIOLENT,
                                           safety_identifier="mallory")
    sim.config.moderation = "down"  # an outage: refused (failing closed), an incident
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model=MODEL, safety_identifier="carol", messages=[
            {"role": "user", "content": "during the outage"}])
    sim.config.moderation = "ok"
    time.sleep(0.3)  # the audit writer's flush
    ARTIFACTS.mkdir(exist_ok=True)
    done = run_node("dashboard.mjs", {"GS_CHROMIUM": str(CHROMIUM), "GS_URL": gw.url,
                                      "GS_TOKEN": ROOT, "GS_SHOTS": str(ARTIFACTS)},
                    timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["login_url"].endswith("/admin/login")
    assert out["bars"] > 0  # a non-empty chart
    assert float(out["score"].split()[0]) > 0
    cookie = out["cookie"]
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/admin"
    assert out["suspended"] == ["mallory"]
    assert out["mallory_status"] == "suspended"
    assert out["bob_status"] == "banned"
    assert "abuse seen on the dashboard" in out["bob_history"] and "admin" in out["bob_history"]
    assert out["forged"] == 403
    assert out["focus_outline"] == "solid"
    assert out["scroll_1366"] <= 1366 and out["scroll_390"] <= 390  # no sideways scrolling
    assert sorted(out["incident_titles"]) == ["Alert: end-user-banned",
                                              "Moderation unavailable"]
    assert out["incident_flash"].endswith("resolution recorded.")
    assert "resolved by admin" in out["incident_row"]
    assert "moderation key rotated by the operator" in out["incident_row"]
    assert out["after_logout"].endswith("/admin/login")
    assert out["replayed"].endswith("/admin/login")
    assert out["after_logout_users"].endswith("/admin/login")
    with pytest.raises(openai.PermissionDeniedError):  # the ban, on the next API call
        client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="bob")
    client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="alice")
    for name in ("dashboard-overview.png", "dashboard-end-user.png",
                 "dashboard-overview-phone.png", "dashboard-incidents.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000
