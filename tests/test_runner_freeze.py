"""A gateway process of its own (``goodstanding serve``) takes its start-up objects out of the
collector's full passes; a server in a thread (tests, the demo, library mode) leaves its host's
objects alone."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path
from typing import Any

from goodstanding.runner import serve_in_thread

CHILD = """
import gc, os
from goodstanding.runner import run_forever
from tests.test_runner_freeze import app

def started():
    print(gc.get_freeze_count(), flush=True)
    os._exit(0)

run_forever(app, "127.0.0.1", 0, on_started=started)
"""


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A bare ASGI app: it starts and stops."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return


def test_a_foreground_server_freezes_what_start_up_made():
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                          timeout=60, check=False, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[0]) > 1000  # modules, uvicorn, the app: thousands


def test_a_server_in_a_thread_freezes_nothing_of_its_host():
    before = gc.get_freeze_count()
    with serve_in_thread(app):
        assert gc.get_freeze_count() == before
