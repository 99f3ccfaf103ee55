"""Proof of scale-out: two real gateway processes sharing one PostgreSQL and one Redis.

Each process has its own memory; only the shared stores connect them. The end user's limit
holds across both, a ban made through one is enforced by the other within 1 s, and both
write their audit records into the same table.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from goodstanding.stores import open_store
from tests.scale_helpers import chat, env_for, gateway_process, get, make_key, migrate
from tests.services import postgres_database, redis_url

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(120)]


@pytest.fixture
def shared(sim: Any) -> Iterator[dict[str, Any]]:
    with postgres_database() as db_url:
        env = env_for(db_url, redis_url(), sim.url, secrets.token_hex(16),
                      GOODSTANDING_STRIKES__BAN_AT="1")
        done = migrate(env)
        assert done.returncode == 0, done.stderr
        assert "schema up to date (postgresql)" in done.stdout
        yield {"env": env, "db_url": db_url, "token": make_key(db_url)}


@pytest.fixture
def two(shared: dict[str, Any]) -> Iterator[tuple[str, str]]:
    with gateway_process(shared["env"]) as a, gateway_process(shared["env"]) as b:
        yield a, b


def audit_ids(db_url: str) -> set[str]:
    async def go() -> set[str]:
        store = open_store(db_url)
        try:
            return {r["request_id"] for r in await store.query_audit(limit=10_000)}
        finally:
            await store.close()

    return asyncio.run(go())


def test_the_end_user_limit_holds_across_processes_and_audit_is_shared(shared, two):
    a, b = two
    user = "alice-" + secrets.token_hex(4)
    answers = [chat(a if i % 2 == 0 else b, shared["token"], user) for i in range(25)]
    statuses = [answer.status for answer in answers]
    assert statuses.count(200) == 20, statuses  # the default end-user limit: 20 per minute
    refused = [answer for answer in answers if answer.status != 200]
    assert {answer.code for answer in refused} == {"rate_limit_exceeded"}
    assert refused[0].headers["x-ratelimit-remaining-requests"] == "0"
    # both processes answered and both recorded their calls in the one audit table
    ids = {answer.headers["x-request-id"] for answer in answers}
    deadline = time.monotonic() + 5
    while not ids <= audit_ids(shared["db_url"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ids <= audit_ids(shared["db_url"])


def test_a_ban_through_one_process_is_enforced_by_the_other_within_a_second(shared, two):
    a, b = two
    token, user = shared["token"], "mallory-" + secrets.token_hex(4)
    assert chat(b, token, user).status == 200  # B now has the user in its standing cache
    banned = chat(a, token, user, "something bad [[fault:invalid_prompt]]")
    assert banned.status == 400  # the upstream's refusal, and the strike bans (ban_at=1)
    started = time.monotonic()
    while True:
        answer = chat(b, token, user)
        if answer.status == 403:
            break
        assert time.monotonic() - started < 1.0, "process B still admits the banned user"
        time.sleep(0.05)
    assert answer.code == "end_user_banned"


def test_a_ban_from_the_cli_reaches_running_gateways_within_a_second(shared, two, monkeypatch):
    """``goodstanding users ban/unban`` publishes on Redis: no waiting for the 5 s cache."""
    from goodstanding.cli import main

    for name, value in shared["env"].items():
        if name.startswith("GOODSTANDING_"):
            monkeypatch.setenv(name, value)
    a, b = two
    token, user = shared["token"], "oscar-" + secrets.token_hex(4)

    def within_a_second(status: int) -> None:
        started = time.monotonic()
        while any(chat(url, token, user).status != status for url in (a, b)):
            assert time.monotonic() - started < 1.0, f"still not {status} after 1 s"
            time.sleep(0.05)

    for _ in range(2):  # both processes now hold the user in their standing caches
        assert chat(a, token, user).status == 200 and chat(b, token, user).status == 200
        assert main(["users", "ban", user, "--by", "test"]) == 0
        within_a_second(403)
        assert main(["users", "unban", user, "--by", "test"]) == 0
        within_a_second(200)


def test_readyz_reports_each_store(two):
    answer = get(f"{two[0]}/readyz")
    assert answer.status == 200
    assert answer.body == {"status": "ready", "stores": {"database": "ok", "redis": "ok"}}


def test_workers_share_limits_and_metrics_count_every_worker(shared):
    """``serve --workers 2``: one port, two processes; /metrics sums both (each worker's
    snapshot is at most a second old, so the sum is right within a second)."""

    def served() -> float:
        text = get(f"{url}/metrics").body["text"]
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("goodstanding_requests_total{"))

    with gateway_process(shared["env"], workers=2) as url:
        user = "carol-" + secrets.token_hex(4)
        statuses = [chat(url, shared["token"], user).status for _ in range(22)]
        assert statuses.count(200) == 20 and statuses.count(429) == 2
        deadline = time.monotonic() + 2.5
        while served() != 22 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert served() == 22
