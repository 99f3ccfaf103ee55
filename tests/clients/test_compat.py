"""Every client people use, on every case of the one table (tests/clients/cases.py).

A client's runner plays the whole table once against one gateway (in front of the simulated
upstream); each case is then asserted as its own test, so a failure names client and case.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.clients.cases import CASES, Case, check
from tests.clients.conftest import BAD_KEY, CompatGateway, run_node
from tests.clients.runners import PLAYERS, run

NODE_RUNNERS = {"openai-node": "openai_node.mjs", "vercel-ai": "vercel_ai.mjs"}
CLIENTS = (*PLAYERS, *NODE_RUNNERS)
_results: dict[str, dict[str, Any]] = {}


def play(client: str, gateway: CompatGateway, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The client's outcomes of every case, played once per session."""
    if client not in _results:
        if client in PLAYERS:
            _results[client] = {c.name: _play_python(client, c, gateway) for c in CASES}
        else:
            request.getfixturevalue("node_clients")
            _results[client] = _play_node(client, gateway)
    return _results[client]


def _play_python(client: str, case: Case, gateway: CompatGateway) -> dict[str, Any]:
    key = gateway.key if case.good_key else BAD_KEY
    return run(PLAYERS[client], case, client, gateway.url, key)


def _play_node(client: str, gateway: CompatGateway) -> dict[str, Any]:
    cases = [c.for_client(client) for c in CASES]
    env = {"GS_BASE_URL": gateway.url, "GS_KEY": gateway.key, "GS_BAD_KEY": BAD_KEY,
           "GS_CLIENT": client, "GS_CASES": json.dumps(cases)}  # fmt: skip
    done = run_node(NODE_RUNNERS[client], env)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize("client", CLIENTS)
def test_client_case(client: str, case: Case, compat_gateway: CompatGateway,
                     request: pytest.FixtureRequest) -> None:  # fmt: skip
    outcome = play(client, compat_gateway, request)[case.name]
    check(client, case, outcome)

