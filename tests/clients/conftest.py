"""One gateway for the whole client compatibility suite, and the npm-installed JS clients.

The JS clients are pinned in `node/package.json` + `node/package-lock.json` and installed with
`npm ci` into `node/node_modules` (by `make node-clients`, or here on first use; later runs reuse
it). Without node/npm the JS runners are skipped, except under `CI=true`, where that fails.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from goodstanding.gateway import Gateway
from goodstanding.runner import serve_in_thread
from goodstanding.server.app import create_app
from goodstanding.settings import load_settings
from tests.conftest import _make_key, gateway_env

NODE_DIR = Path(__file__).parent / "node"
BAD_KEY = "gsk-aaaaaaaaaaaa-" + "b" * 43


@dataclass(frozen=True)
class CompatGateway:
    url: str  # .../v1
    key: str
    db_url: str


def compat_env(tmp: Path, upstream_url: str, **extra: str) -> dict[str, str]:
    """The defaults, but limits wide enough for every client's cases from one address, and
    no upstream hold after a 429: the retry case measures the client's own wait for
    ``retry-after``, not the gateway's (tests/test_upstream_limits.py covers that one)."""
    return gateway_env(tmp, upstream_url, GOODSTANDING_LIMITS__END_USER__RPM="1000",
                       GOODSTANDING_LIMITS__IP__RPM="1000",
                       GOODSTANDING_SIGNALS__UPSTREAM__ENABLED="false", **extra)  # fmt: skip


@pytest.fixture(scope="session")
def compat_gateway(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CompatGateway]:
    settings = load_settings(env=compat_env(tmp_path_factory.mktemp("compat"), sim.url))
    db_url = settings.storage.database_url
    _, token = asyncio.run(_make_key(db_url, "compat"))
    with serve_in_thread(create_app(Gateway.build(settings))) as url:
        yield CompatGateway(f"{url}/v1", token, db_url)


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


def npm_install() -> Path:
    """`npm ci` once; later calls reuse node_modules while the lock file is unchanged."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _missing("node and npm are needed for the JavaScript clients")
    stamp = NODE_DIR / "node_modules" / ".package-lock.json"
    lock = NODE_DIR / "package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                              cwd=NODE_DIR, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            _missing(f"npm ci failed: {done.stderr.strip()[-500:]}")
    return NODE_DIR


@pytest.fixture(scope="session")
def node_clients() -> Path:
    return npm_install()


def run_node(script: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    node = shutil.which("node")
    assert node is not None
    full = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "NODE_NO_WARNINGS": "1", **env}
    return subprocess.run([node, str(NODE_DIR / script)], cwd=NODE_DIR, env=full,
                          capture_output=True, text=True, timeout=timeout, check=False)  # fmt: skip
