"""Shared fixtures: a real simulated upstream and real gateway servers in threads.

Anything a client sees is tested through the official ``openai`` SDK against a real server
(STYLE: in-process transports collect whole bodies and cannot prove streaming).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
from hypothesis import settings as hypothesis_settings

from goodstanding.credentials import keys
from goodstanding.gateway import Gateway
from goodstanding.runner import serve_in_thread
from goodstanding.server.app import create_app
from goodstanding.settings import Settings, load_settings
from goodstanding.stores import open_store

UPSTREAM_KEY = "sk-test-upstream-0123456789"

# Property tests check answers, not speed: Hypothesis's default 200 ms deadline per example
# can fail a cold first example on a loaded 2-core machine (CI runs the suite on one)
hypothesis_settings.register_profile("goodstanding", deadline=None)
hypothesis_settings.load_profile("goodstanding")


@pytest.fixture(scope="session")
def sim() -> Iterator[Any]:
    from goodstanding.simulate import create_app as simulated

    app = simulated(api_key=UPSTREAM_KEY)
    with serve_in_thread(app) as url:
        app.url = url
        yield app


@pytest.fixture(autouse=True)
def _reset_sim(request: pytest.FixtureRequest) -> None:
    if "sim" in request.fixturenames:
        request.getfixturevalue("sim").reset()


@dataclass
class Running:
    url: str
    token: str
    key_id: str
    settings: Settings
    gateway: Gateway
    db_url: str

    def client(self, **kwargs: Any) -> openai.OpenAI:
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("api_key", self.token)
        return openai.OpenAI(base_url=f"{self.url}/v1", **kwargs)

    def store_call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Run one store method on a fresh store (the server's store lives on its own loop)."""

        async def go() -> Any:
            store = open_store(self.db_url)
            try:
                return await getattr(store, method)(*args, **kwargs)
            finally:
                await store.close()

        return asyncio.run(go())


def gateway_env(tmp: Path, upstream_url: str, **extra: str) -> dict[str, str]:
    env = {
        "OPENAI_API_KEY": UPSTREAM_KEY,
        "GOODSTANDING_UPSTREAM_URL": f"{upstream_url}/v1",
        "GOODSTANDING_DATABASE_URL": f"sqlite:///{tmp / 'gateway.db'}",
        "GOODSTANDING_SECRET": secrets.token_hex(16),
        "GOODSTANDING_STORAGE__AUDIT_FLUSH_INTERVAL": "0.05",
        # A 5 s store bound, not the 0.5 s default: on a loaded 2-core CI machine an SQLite
        # call sometimes waits longer than 0.5 s and the test got a 503 it was not about.
        # Tests of the bound itself (test_faults) set their own.
        "GOODSTANDING_STORAGE__TIMEOUT": "5",
    }
    env.update(extra)
    return env


async def _make_key(db_url: str, name: str = "test-app", **kwargs: Any) -> tuple[str, str]:
    store = open_store(db_url)
    try:
        await store.migrate()
        key, token = await keys.create_key(store, name, **kwargs)
        return key.id, token
    finally:
        await store.close()


@pytest.fixture
def start_gateway(tmp_path: Path, sim: Any) -> Iterator[Any]:
    """Factory: start a gateway with extra env settings; stopped at the end of the test."""
    stack: list[Any] = []

    def start(**env: str) -> Running:
        settings = load_settings(env=gateway_env(tmp_path, sim.url, **env))
        db_url = settings.storage.database_url
        key_id, token = asyncio.run(_make_key(db_url))
        gateway = Gateway.build(settings)
        context = serve_in_thread(create_app(gateway))
        url = context.__enter__()
        stack.append(context)
        return Running(url, token, key_id, settings, gateway, db_url)

    yield start
    for context in reversed(stack):
        context.__exit__(None, None, None)


@pytest.fixture
def gw(start_gateway: Any) -> Running:
    return start_gateway()


@pytest.fixture(autouse=True)
def _no_real_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    # never let a test reach the real API by accident
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


STORE_BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(params=STORE_BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every store backend in turn (STYLE 9): one behaviour suite, run against each."""
    if request.param == "memory":
        yield "memory://"
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        from tests.services import postgres_database

        with postgres_database() as url:
            yield url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Any]:
    opened = open_store(store_url)
    await opened.migrate()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    # a command run in-process (`serve`, …) points the root logger at the stderr of its test
    # (pytest's capture); once that capture is closed, a later test's log line would fail with
    # "--- Logging error ---" in the middle of the CLI output it checks. Each test starts and
    # ends with the root logger as it found it.
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = saved[0], saved[1]


# Tests that run several gateway processes under load. `make test` runs two pytest workers
# (`--dist loadgroup`); these share one group, so two of them never run at once: on 2 cores
# two SIGHUP reloads together starved each other's requests past the clients' 30 s timeout.
HEAVY = (
    "tests/test_workers.py::test_sighup",
    "tests/test_upstream_keys.py::test_sighup",
    "tests/test_faults.py::test_sigkill",
    "tests/test_scale_out.py::",
    "tests/test_abuse_shared.py::",
    "tests/test_strikes_concurrency.py::test_concurrent_strikes_through_two_processes",
    "tests/test_rotation_schedule.py::test_scheduled_rotation",
    "tests/test_ops_metrics.py::test_two_workers",
    "tests/test_dashboard_sessions.py::test_sign_out_reaches_every_worker",
)


@pytest.hookimpl(tryfirst=True)  # before xdist's worker reads the groups into the node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(HEAVY):
            item.add_marker(pytest.mark.xdist_group("processes"))
