"""Real gateway processes (``goodstanding serve`` in subprocesses) sharing PostgreSQL + Redis."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from goodstanding.credentials import keys
from goodstanding.stores import open_store
from tests.conftest import UPSTREAM_KEY

CLI = [sys.executable, "-m", "goodstanding.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env_for(db_url: str, redis: str, upstream: str, secret: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOODSTANDING_")}
    env.update({
        "OPENAI_API_KEY": UPSTREAM_KEY,
        "GOODSTANDING_UPSTREAM_URL": f"{upstream}/v1",
        "GOODSTANDING_DATABASE_URL": db_url,
        "GOODSTANDING_REDIS_URL": redis,
        "GOODSTANDING_SECRET": secret,
        "GOODSTANDING_STORAGE__AUDIT_FLUSH_INTERVAL": "0.05",
        "GOODSTANDING_LIMITS__IP__RPM": "100000",  # the proof is about the end user's limit
        "NO_PROXY": "127.0.0.1,localhost",
    })
    env.update(extra)
    return env


def migrate(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "migrate"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def make_key(db_url: str) -> str:
    async def go() -> str:
        store = open_store(db_url)
        try:
            _, token = await keys.create_key(store, "scale-" + secrets.token_hex(4))
            return token
        finally:
            await store.close()

    return asyncio.run(go())


@contextmanager
def gateway_process(env: dict[str, str], workers: int = 1) -> Iterator[str]:
    """``goodstanding serve`` on a free port; yields its base URL once /healthz answers."""
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--workers", str(workers)], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def wait_healthy(url: str, process: subprocess.Popen[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"gateway exited with {process.returncode}:\n{output}")
        try:
            if get(f"{url}/healthz").status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gateway on {url} did not become healthy")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def code(self) -> str | None:
        error = self.body.get("error") or {}
        return error.get("code")


def request(url: str, data: dict[str, Any] | None = None, token: str | None = None) -> Answer:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    payload = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(url, payload, headers, method="POST" if payload else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            raw, status, got = response.read(), response.status, response.headers
    except urllib.error.HTTPError as error:
        raw, status, got = error.read(), error.code, error.headers
    text = raw.decode() or "{}"
    body = json.loads(text) if text.startswith("{") else {"text": text}
    return Answer(status, {k.lower(): v for k, v in got.items()}, body)


def get(url: str) -> Answer:
    return request(url)


def chat(url: str, token: str, user: str, content: str = "hello there") -> Answer:
    body: dict[str, Any] = {"model": "gpt-4o-mini", "safety_identifier": user,
                            "messages": [{"role": "user", "content": content}]}
    return request(f"{url}/v1/chat/completions", body, token)
