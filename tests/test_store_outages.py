"""Redis or PostgreSQL unreachable: 503 ``store_unavailable`` (fail closed), a /readyz that
names the store, and recovery without a restart once the store is back."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import openai
import pytest

from goodstanding.errors import ConfigError
from goodstanding.gateway import Gateway
from goodstanding.settings import load_settings
from tests.conftest import _make_key
from tests.scale_helpers import get
from tests.services import PG_HOST, PG_PORT, postgres_database, redis_url
from tests.tcp_proxy import forwarder

MODEL = "gpt-4o-mini"
HELLO: Any = [{"role": "user", "content": "hello there"}]


def ask(gw: Any, user: str) -> Any:
    return gw.client().chat.completions.create(model=MODEL, messages=HELLO,
                                               safety_identifier=user)


def eventually(probe: Any, seconds: float = 10.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return probe()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.redis
def test_redis_down_fails_closed_then_recovers_without_restart(start_gateway):
    redis_url()  # skip (or fail under CI) without the service
    with forwarder("127.0.0.1", 6379) as proxy:
        gw = start_gateway(GOODSTANDING_REDIS_URL=f"redis://127.0.0.1:{proxy.port}/0")
        user = "rita-" + secrets.token_hex(4)
        assert ask(gw, user)
        proxy.cut()
        with pytest.raises(openai.InternalServerError) as caught:
            ask(gw, user)
        assert caught.value.status_code == 503 and caught.value.code == "store_unavailable"
        ready = get(f"{gw.url}/readyz")
        assert ready.status == 503 and ready.body["stores"] == {"database": "ok",
                                                                "redis": "unreachable"}
        proxy.restore()
        assert eventually(lambda: ask(gw, user))
        assert get(f"{gw.url}/readyz").status == 200


@pytest.mark.redis
def test_redis_down_can_degrade_to_per_process_limits(start_gateway):
    redis_url()
    with forwarder("127.0.0.1", 6379) as proxy:
        gw = start_gateway(GOODSTANDING_REDIS_URL=f"redis://127.0.0.1:{proxy.port}/0",
                           GOODSTANDING_STORAGE__ON_REDIS_ERROR="local")
        proxy.cut()
        assert ask(gw, "dora-" + secrets.token_hex(4))  # admitted on per-process counters
        metrics = get(f"{gw.url}/metrics").body["text"]
        assert 'goodstanding_store_degraded{store="redis"} 1' in metrics


@pytest.mark.postgres
def test_postgres_down_fails_closed_then_recovers_without_restart(start_gateway):
    with postgres_database() as direct, forwarder(PG_HOST, PG_PORT) as proxy:
        url = direct.replace(f":{PG_PORT}/", f":{proxy.port}/")
        asyncio.run(_make_key(url))  # migrates, as `goodstanding migrate` would
        gw = start_gateway(GOODSTANDING_DATABASE_URL=url)
        assert ask(gw, "pat-" + secrets.token_hex(4))
        proxy.cut()
        with pytest.raises(openai.InternalServerError) as caught:
            ask(gw, "new-" + secrets.token_hex(4))  # a standing never read: from the database
        assert caught.value.status_code == 503 and caught.value.code == "store_unavailable"
        assert get(f"{gw.url}/readyz").body["stores"]["database"] == "unreachable"
        proxy.restore()
        assert eventually(lambda: ask(gw, "back-" + secrets.token_hex(4)))


@pytest.mark.postgres
def test_a_schema_behind_stops_start_up_with_the_command_to_run():
    with postgres_database() as url:
        settings = load_settings(env={"GOODSTANDING_DATABASE_URL": url})

        async def start() -> None:
            gateway = Gateway.build(settings)
            try:
                await gateway.start()
            finally:
                await gateway.close()

        with pytest.raises(ConfigError, match="run `goodstanding migrate` first"):
            asyncio.run(start())
