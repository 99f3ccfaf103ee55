"""`goodstanding demo` prints the dashboard's URL and a ready admin token, and its scenario
leaves something to look at there: a suspended end user, flags, a refused unsupported-country
call."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time

import httpx

from tests.test_dashboard import parsed


def test_the_demo_prints_a_dashboard_to_sign_in_to_with_the_scenario_in_it(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo = subprocess.Popen(
        [sys.executable, "-m", "goodstanding.cli", "demo", "--port", str(port)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line, deadline = "", time.monotonic() + 120
        while "dashboard:" not in line and time.monotonic() < deadline:
            line = demo.stdout.readline()
            assert line or demo.poll() is None, "the demo ended early"
        found = re.search(r"dashboard: (\S+)/admin/  \(sign in with the admin token (\S+)\)",
                          line)
        assert found, line
        url, token = found.groups()
        with httpx.Client(base_url=url, timeout=20) as client:
            csrf = parsed(client.get("/admin/login").text).csrf[0]
            assert client.post("/admin/login", data={"csrf": csrf, "token": token}
                               ).status_code == 303
            overview = client.get("/admin/").text
            assert "class='bar'" in overview
            assert "unsupported_country" in overview or "unsupported_country" in client.get(
                "/admin/", params={"window": "1h"}).text
            suspended = client.get("/admin/users", params={"status": "suspended"}).text
            assert "@example.com" in suspended
    finally:
        demo.terminate()
        demo.wait(timeout=30)
