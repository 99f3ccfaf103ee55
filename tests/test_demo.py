"""`goodstanding demo --exit`: the whole scripted scenario, as `make run` plays it."""

from __future__ import annotations

import socket
import subprocess
import sys


def test_demo_scenario_plays_through_and_exits_cleanly(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = subprocess.run(
        [sys.executable, "-m", "goodstanding.cli", "demo", "--exit", "--port", str(port)],
        check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FAILED" not in done.stdout and "Traceback" not in done.stderr
    for shown in ("end_user_required", "content_policy_violation", "jailbreak_detected",
                  "end_user_suspended", "rate_limit_exceeded", "unsupported_country"):
        assert shown in done.stdout
    assert list(tmp_path.iterdir()) == []  # the demo leaves nothing behind
