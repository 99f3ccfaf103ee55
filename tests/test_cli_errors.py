"""Every expected failure of a command is one line naming the cause and the fix, exit ≠ 0; a
traceback only with ``--debug``. Run as a user runs them: the real CLI in a subprocess."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "goodstanding.cli"]
DOWN = "postgresql://postgres@127.0.0.1:1/nothing"  # nothing listens on port 1


def env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("GOODSTANDING_") and k != "OPENAI_API_KEY"}
    return clean | {"NO_PROXY": "127.0.0.1,localhost"} | extra


def cli(*argv: str, timeout: float = 60, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *argv], env=env(**extra), capture_output=True, text=True,
                          timeout=timeout, check=False)


def one_line(done: subprocess.CompletedProcess[str], *words: str) -> str:
    """The failure's stderr: exactly one line, no traceback, naming every word."""
    assert done.returncode != 0, done
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    line = lines[0]
    assert line.startswith("goodstanding: ")
    for word in words:
        assert word in line, line
    return line


SERVE_ENV = {"OPENAI_API_KEY": "sk-test", "GOODSTANDING_SECRET": "s" * 32}


@pytest.mark.parametrize("argv", [["migrate"], ["keys", "list"], ["users", "list"],
                                  ["users", "ban", "x", "--tenant", "t"]])
def test_store_unreachable_is_one_line(argv):
    done = cli(*argv, GOODSTANDING_DATABASE_URL=DOWN)
    line = one_line(done, "cannot reach the database", "127.0.0.1:1", "GOODSTANDING_DATABASE_URL")
    assert "connect" in line.lower() or "refused" in line.lower()


def test_serve_with_store_unreachable_is_one_line():
    one_line(cli("serve", "--port", "0", GOODSTANDING_DATABASE_URL=DOWN, **SERVE_ENV),
             "cannot reach the database")


def test_debug_prints_the_traceback():
    done = cli("--debug", "keys", "list", GOODSTANDING_DATABASE_URL=DOWN)
    assert done.returncode == 1
    assert "Traceback" in done.stderr
    assert done.stderr.rstrip().splitlines()[-1].startswith("goodstanding: cannot reach")


def test_bad_database_url_is_one_line():
    one_line(cli("keys", "list", GOODSTANDING_DATABASE_URL="postgresql://db:notaport/gs"),
             "storage.database_url", "not a valid URL")
    one_line(cli("keys", "list", GOODSTANDING_DATABASE_URL="mysql://db/gs"),
             "unsupported scheme")


def test_missing_secret_and_key_are_one_line(tmp_path):
    db = f"sqlite:///{tmp_path}/gs.db"
    one_line(cli("serve", GOODSTANDING_DATABASE_URL=db, OPENAI_API_KEY="sk-test"),
             "GOODSTANDING_SECRET")
    one_line(cli("serve", GOODSTANDING_DATABASE_URL=db, GOODSTANDING_SECRET="s" * 32),
             "OPENAI_API_KEY")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_on_a_port_in_use_suggests_another(tmp_path, workers):
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = str(held.getsockname()[1])
        done = cli("serve", "--port", port, "--workers", workers,
                   GOODSTANDING_DATABASE_URL=f"sqlite:///{tmp_path}/gs.db", **SERVE_ENV)
    one_line(done, f"127.0.0.1:{port}", "already in use", "--port")
    assert "serving on" not in done.stdout  # nothing claims to serve


def test_demo_on_a_port_in_use_suggests_another():
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = str(held.getsockname()[1])
        done = cli("demo", "--exit", "--port", port)
    one_line(done, "already in use", "--port")


def test_serve_prints_the_real_port_once_bound(tmp_path):
    server = subprocess.Popen(
        [*CLI, "serve", "--port", "0"], text=True, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env(GOODSTANDING_DATABASE_URL=f"sqlite:///{tmp_path}/gs.db", **SERVE_ENV))
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        match = re.search(r"serving on http://127\.0\.0\.1:(\d+)/v1", line)
        assert match, line
        port = int(match.group(1))
        assert port != 0
        # printed once bound and started: it answers at once
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            assert answer.status == 200
    finally:
        server.terminate()
        server.wait(15)


@pytest.mark.postgres
def test_read_only_commands_leave_an_empty_postgres_schema_alone():
    import asyncio

    import asyncpg

    from tests.services import postgres_database

    async def tables(url: str) -> list[str]:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
            return [r["tablename"] for r in rows]
        finally:
            await conn.close()

    with postgres_database() as url:
        for argv in (["keys", "list"], ["users", "list"], ["keys", "create", "app"],
                     ["users", "show", "x", "--tenant", "t"]):
            one_line(cli(*argv, GOODSTANDING_DATABASE_URL=url), "goodstanding migrate")
        assert asyncio.run(tables(url)) == []
        assert cli("migrate", GOODSTANDING_DATABASE_URL=url).returncode == 0
        assert "keys" in asyncio.run(tables(url))
        done = cli("keys", "list", GOODSTANDING_DATABASE_URL=url)
        assert done.returncode == 0, done.stderr


def _as_nobody() -> list[str] | None:
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        return None
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.mark.skipif(_as_nobody() is None, reason="needs root and setpriv to drop privileges")
def test_permission_denied_is_one_line(tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    tmp_path.chmod(0o755)
    drop = _as_nobody() or []
    # the interpreter and the sources must be readable by nobody for this to say anything
    probe = subprocess.run([*drop, sys.executable, "-c", "import goodstanding"],
                           capture_output=True, env=env(), check=False)
    if probe.returncode != 0:
        pytest.skip("the virtualenv is not readable by an unprivileged user")

    def run(*argv: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*drop, *CLI, *argv], env=env(**extra), capture_output=True,
                              text=True, timeout=60, check=False, cwd=str(tmp_path))

    one_line(run("keys", "list", GOODSTANDING_DATABASE_URL=f"sqlite:///{private}/gs.db"),
             "cannot open the SQLite database", "writable")
    one_line(run("serve", "--port", "80", GOODSTANDING_DATABASE_URL="memory://", **SERVE_ENV),
             "127.0.0.1:80", "permission denied", "--port")
    config = private / "c.yaml"
    config.write_text("{}\n")
    one_line(run("config", "check", str(config)), "Permission denied")
    assert Path(config).exists()
