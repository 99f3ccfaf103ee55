"""Abuse-signal state shared through Redis: two real gateway processes, one Redis, one
PostgreSQL. Each process counts in memory and merges its counts into Redis once a second
(``abuse/shared.py``), so what neither sees alone, both see together."""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from goodstanding.stores import open_store
from tests.scale_helpers import env_for, gateway_process, make_key, migrate, request
from tests.services import postgres_database, redis_url
from tests.test_distillation import extraction_prompt

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(180)]


RAMP = {"GOODSTANDING_SIGNALS__RAMP__WINDOW": "6s", "GOODSTANDING_SIGNALS__RAMP__FLOOR": "10",
        "GOODSTANDING_SIGNALS__RAMP__QUEUE": "0"}
NO_RAMP = {"GOODSTANDING_SIGNALS__RAMP__ENABLED": "false"}


@pytest.fixture
def shared(sim: Any, request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    with postgres_database() as db_url:
        env = env_for(db_url, redis_url(), sim.url, secrets.token_hex(16),
                      GOODSTANDING_LIMITS__END_USER__RPM="10000",
                      GOODSTANDING_SIGNALS__DISTILLATION__MIN_REQUESTS="30",
                      GOODSTANDING_SIGNALS__DISTILLATION__LIKELY="record",
                      GOODSTANDING_MODERATION__INPUT="off",  # not what this is about
                      GOODSTANDING_MODERATION__OUTPUT="off",
                      GOODSTANDING_STORAGE__TIMEOUT="5", **request.param)
        done = migrate(env)
        assert done.returncode == 0, done.stderr
        with gateway_process(env) as a, gateway_process(env) as b:
            yield {"db_url": db_url, "token": make_key(db_url), "a": a, "b": b,
                   "started": time.monotonic()}


def ask(url: str, token: str, user: str, content: str) -> Any:
    body = {"model": "gpt-4o-mini", "safety_identifier": user, "response_format":
            {"type": "json_object"}, "messages": [{"role": "user", "content": content}]}
    return request(f"{url}/v1/chat/completions", body, token)


def audit(db_url: str) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        store = open_store(db_url)
        try:
            return await store.query_audit(limit=10_000)
        finally:
            await store.close()

    time.sleep(0.5)
    return asyncio.run(go())


@pytest.mark.parametrize("shared", [NO_RAMP], indirect=True)
def test_distillation_counts_add_up_across_processes(shared):
    rng = random.Random(11)
    user = "harvester-" + secrets.token_hex(3)
    # 25 in each process, each judging 16 of its own (from its 10th call, JUDGE_FROM): neither
    # reaches min_requests (30) alone
    for i in range(50):
        url = shared["a"] if i % 2 == 0 else shared["b"]
        assert ask(url, shared["token"], user, extraction_prompt(i, rng)).status == 200
    time.sleep(1.6)  # a merge in each process
    for i in range(50, 54):
        url = shared["a"] if i % 2 == 0 else shared["b"]
        assert ask(url, shared["token"], user, extraction_prompt(i, rng)).status == 200
    rows = [row for row in audit(shared["db_url"]) if row["end_user"] == user]
    flagged = [row for row in rows if "distillation:likely" in row["reasons"]]
    assert flagged, [row["reasons"] for row in rows]
    # the first flagged call was judged on 30+ prompts while its own process had served fewer:
    # it counted the other process's (request ids: a per-process prefix, then a sequence)
    first = min(flagged, key=lambda row: row["request_id"][-8:])
    own = [row for row in rows if row["request_id"][:-8] == first["request_id"][:-8]
           and row["request_id"] <= first["request_id"]]
    assert len(own) < 30 <= first["scores"]["distillation_requests"]
    assert max(row["scores"]["distillation_requests"] for row in flagged) >= 34  # 16 + 16 + 2


@pytest.mark.parametrize("shared", [RAMP], indirect=True)
def test_the_ramp_governor_counts_the_organization_not_each_process(shared):
    for url in (shared["a"], shared["b"]):  # both serve traffic (while learning)
        assert ask(url, shared["token"], "warm-up", "hello there").status == 200
    left = 12.5 - (time.monotonic() - shared["started"])
    time.sleep(max(0.0, left))  # two windows of 6 s: both processes have learned
    first = [ask(shared["a"], shared["token"], f"a{i}", "hello there").status for i in range(6)]
    assert first == [200] * 6
    time.sleep(1.3)  # a merge: process b now knows a's six
    second = [ask(shared["b"], shared["token"], f"b{i}", "hello there") for i in range(6)]
    statuses = [answer.status for answer in second]
    # the floor is 10 a window (9 for the anonymous tier): b sends 3, not 6
    assert statuses.count(200) <= 4 and 429 in statuses, statuses
    shed = [answer for answer in second if answer.status == 429]
    assert all("ramp" in answer.body["error"]["message"] for answer in shed)
