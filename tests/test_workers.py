"""``serve --workers N`` spreads connections over its workers (a listening socket per worker).

With one socket shared by every worker, the first worker to wake accepted every waiting
connection: 16 kept-alive connections opened at once all landed on one of two workers.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from goodstanding.server.workers import listeners
from tests.scale_helpers import free_port, wait_healthy


def accepted(sock: socket.socket) -> int:
    sock.setblocking(False)
    count = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


def test_connections_spread_over_every_worker_socket():
    port = free_port()
    sockets = listeners("127.0.0.1", port, 2)
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
    try:
        counts = [accepted(sock) for sock in sockets]
    finally:
        for sock in sockets + clients:
            sock.close()
    assert sum(counts) == 32
    assert min(counts) > 0  # all 32 on one socket: 2 ** -31 by chance


@pytest.mark.parametrize("holder", ["plain socket", "another gateway"])
def test_a_port_in_use_is_refused_not_shared(holder):
    port = free_port()
    if holder == "plain socket":
        held = [socket.create_server(("127.0.0.1", port))]
    else:
        held = listeners("127.0.0.1", port, 2)
    try:
        with pytest.raises(OSError):
            listeners("127.0.0.1", port, 2)
    finally:
        for sock in held:
            sock.close()


def established(port: int) -> set[str]:
    """Socket inodes of the established TCP connections whose local port is `port`."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
            inodes.add(f"socket:[{fields[9]}]")
    return inodes


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def connections_of(pid: int, inodes: set[str]) -> int:
    fds = Path(f"/proc/{pid}/fd")
    return sum(1 for fd in fds.iterdir() if os.readlink(fd) in inodes)


def serving(pid: int) -> list[int]:
    """The worker processes of a gateway (its children, less multiprocessing's tracker)."""
    found = []
    for child in children(pid):
        try:
            if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
        except OSError:
            continue
    return found


def spread(port: int, server: subprocess.Popen[str]) -> list[int]:
    """Open 16 kept-alive connections at once; how many each worker holds."""
    clients = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(16)]
    try:
        for client in clients:  # in a burst, as a connection pool opens them
            client.sock = socket.create_connection(("127.0.0.1", port))
        for client in clients:  # answered: the connection is accepted and kept alive
            client.request("GET", "/healthz")
            assert client.getresponse().read()
        inodes = established(port)
        return [connections_of(pid, inodes) for pid in serving(server.pid)]
    finally:
        for client in clients:
            client.close()


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOODSTANDING_")}
    env |= {"OPENAI_API_KEY": "sk-test", "GOODSTANDING_SECRET": "s" * 32,
            "GOODSTANDING_DATABASE_URL": f"sqlite:///{tmp_path}/gs.db"}
    server = subprocess.Popen(
        [sys.executable, "-m", "goodstanding.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", server)
        yield port, server
    finally:
        server.terminate()
        server.wait(15)


pytestmark_linux = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc")


@pytestmark_linux
@pytest.mark.timeout(60)
def test_kept_alive_connections_opened_at_once_reach_both_workers(two_workers):
    per_worker = spread(*two_workers)
    assert sum(per_worker) == 16
    assert [n > 0 for n in per_worker] == [True, True], per_worker


@pytestmark_linux
@pytest.mark.timeout(60)
def test_a_worker_that_dies_is_replaced_on_its_socket(two_workers):
    port, server = two_workers
    first, second = serving(server.pid)
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while set(serving(server.pid)) in ({second}, {first, second}):
        assert time.monotonic() < deadline, "no new worker"
        time.sleep(0.1)
    # answered once, so the new worker has started (16 connections reach both sockets); the
    # count then is not thrown off by connections that idled out while it started
    spread(port, server)
    per_worker = spread(port, server)  # every connection answered, so accepted by a worker
    assert len(per_worker) == 2 and sum(per_worker) == 16
    assert all(per_worker), per_worker  # the new worker listens on the dead one's socket


def _reloaded(log: Path, times: int) -> bool:
    return log.read_text().count("reloaded:") >= times


@pytestmark_linux
@pytest.mark.timeout(150)
def test_sighup_reloads_the_configuration_without_failing_a_request(tmp_path, sim):
    """Rolling restart under load: new workers with the new configuration, the old ones
    drain, and no request fails — on kept-alive SDK connections (no retries) or fresh ones."""
    import asyncio
    import threading
    import uuid

    import openai

    from tests.conftest import _make_key, gateway_env

    config = tmp_path / "gateway.yaml"
    config.write_text("limits: {ip: {rpm: null}, end_user: {rpm: null, rpd: null}}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOODSTANDING_")}
    env |= gateway_env(tmp_path, sim.url) | {"NO_PROXY": "127.0.0.1,localhost"}
    _, token = asyncio.run(_make_key(env["GOODSTANDING_DATABASE_URL"]))
    port = free_port()
    log = tmp_path / "serve.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "goodstanding.cli", "serve", "--port", str(port), "--workers",
         "2", "--config", str(config)], env=env, stdout=log.open("w"),
        stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    stop = threading.Event()
    answered: list[int] = []
    failures: list[str] = []

    def chat(client: openai.OpenAI, model: str = "gpt-4o-mini") -> None:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}],
                                       safety_identifier=uuid.uuid4().hex, max_tokens=8)

    def kept_alive() -> None:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key=token, max_retries=0, timeout=30)
        while not stop.is_set():
            try:
                chat(client)
                answered.append(1)
            except Exception as exc:  # noqa: BLE001 - every failure is the test's finding
                failures.append(f"kept-alive: {exc!r}")
        client.close()

    def fresh() -> None:
        while not stop.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request("POST", "/v1/chat/completions", body=json.dumps({
                    "model": "gpt-4o-mini", "max_tokens": 8, "safety_identifier": "fresh",
                    "messages": [{"role": "user", "content": "hi"}]}),
                    headers={"Authorization": f"Bearer {token}",
                             "Content-Type": "application/json", "Connection": "close"})
                status = conn.getresponse().status
                if status == 200:
                    answered.append(1)
                else:
                    failures.append(f"fresh: HTTP {status}")
            except Exception as exc:  # noqa: BLE001
                failures.append(f"fresh: {exc!r}")
            finally:
                conn.close()

    try:
        wait_healthy(base, server)
        probe = openai.OpenAI(base_url=f"{base}/v1", api_key=token, max_retries=0)
        chat(probe, "gpt-4o")  # any model passes: upstream.models is empty
        old = set(serving(server.pid))
        threads = [threading.Thread(target=kept_alive) for _ in range(6)]
        threads += [threading.Thread(target=fresh) for _ in range(2)]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        before = len(answered)
        assert before > 0, failures[:3]
        # the new configuration: only gpt-4o-mini exists upstream
        config.write_text(config.read_text() + "upstream: {models: [gpt-4o-mini]}\n")
        os.kill(server.pid, signal.SIGHUP)
        deadline = time.monotonic() + 90
        while not _reloaded(log, 1) or set(serving(server.pid)) & old:
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            assert server.poll() is None, log.read_text()[-2000:]
            time.sleep(0.1)
        time.sleep(1.0)  # load goes on against the new workers
        stop.set()
        for thread in threads:
            thread.join(40)
        assert not failures, failures[:5]
        assert len(answered) > before + 20  # requests were answered across the reload
        new = set(serving(server.pid))
        assert len(new) == 2 and not new & old
        # every new worker has the new configuration: fresh connections reach both
        for _ in range(12):
            client = openai.OpenAI(base_url=f"{base}/v1", api_key=token, max_retries=0)
            with pytest.raises(openai.NotFoundError) as caught:
                chat(client, "gpt-4o")
            assert caught.value.code == "model_not_found"
            client.close()
    finally:
        stop.set()
        server.terminate()
        server.wait(40)


@pytestmark_linux
@pytest.mark.timeout(120)
def test_sighup_with_a_broken_configuration_keeps_the_old_workers(tmp_path):
    config = tmp_path / "gateway.yaml"
    config.write_text("limits: {end_user: {rpm: 5}}\n")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOODSTANDING_")}
    env |= {"OPENAI_API_KEY": "sk-test", "GOODSTANDING_SECRET": "s" * 32,
            "GOODSTANDING_DATABASE_URL": f"sqlite:///{tmp_path}/gs.db"}
    log = tmp_path / "serve.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "goodstanding.cli", "serve", "--port", str(port), "--workers",
         "2", "--config", str(config)], env=env, stdout=log.open("w"),
        stderr=subprocess.STDOUT, text=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", server)
        old = set(serving(server.pid))
        config.write_text("limits: {end_user: {rpmm: 5}}\n")
        os.kill(server.pid, signal.SIGHUP)
        deadline = time.monotonic() + 60
        while "reload failed" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
        assert "limits.end_user.rpmm: unknown key" in log.read_text()
        assert set(serving(server.pid)) == old  # still serving, on the old configuration
        assert server.poll() is None
        for _ in range(8):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/healthz")
            assert conn.getresponse().status == 200
            conn.close()
    finally:
        server.terminate()
        server.wait(40)
