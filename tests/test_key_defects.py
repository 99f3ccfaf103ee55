"""Issue 15's "tried as a new user would" defects, each proved through the CLI or a real gateway."""

from __future__ import annotations

import asyncio
import json
import re
import time

import openai
import pytest

from goodstanding.cli import main
from goodstanding.credentials import keys
from goodstanding.errors import ConfigError
from goodstanding.gateway import Gateway
from goodstanding.settings import load_settings
from goodstanding.stores import open_store
from tests.conftest import UPSTREAM_KEY


@pytest.fixture
def db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'k.db'}"
    monkeypatch.setenv("GOODSTANDING_DATABASE_URL", url)
    return url


def _config(tmp_path, text: str) -> str:
    path = tmp_path / "gs.yaml"
    path.write_text(text)
    return str(path)


# -- unknown upstream names ----------------------------------------------------------------


def test_create_refuses_an_upstream_name_the_configuration_lacks(tmp_path, db, capsys):
    config = _config(tmp_path, "upstream: {keys: {team-a: env:TEAM_A}}\n")
    assert main(["keys", "create", "x", "--upstream", "team-zz", "--config", config]) == 2
    err = capsys.readouterr().err
    assert "no upstream key named 'team-zz'" in err and "team-a" in err
    assert main(["keys", "create", "x", "--upstream", "team-a", "--config", config]) == 0


def test_gateway_refuses_to_start_when_a_key_names_a_vanished_upstream(tmp_path, db, capsys,
                                                                       monkeypatch):
    async def planted() -> str:
        store = open_store(db)
        await store.migrate()
        key, _ = await keys.create_key(store, "old-team", upstream="team-gone")
        await store.close()
        return key.id

    key_id = asyncio.run(planted())
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdefghij")
    monkeypatch.setenv("GOODSTANDING_SECRET", "s" * 32)
    assert main(["serve", "--port", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert key_id in err and "team-gone" in err and "upstream.keys" in err
    gateway = Gateway.build(load_settings())
    with pytest.raises(ConfigError, match=key_id):
        asyncio.run(gateway.start())


def test_an_unresolvable_upstream_key_never_goes_out_as_bearer_none(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_UPSTREAM__KEYS='{team-a: "env:TEAM_A_UNSET"}')
    _, token = asyncio.run(_key(gw.db_url, "t", upstream="team-a"))
    with pytest.raises(openai.APIStatusError) as refused:
        gw.client(api_key=token).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], user="u1")
    assert refused.value.status_code in (502, 503)  # moderation comes first: no key for it
    assert not any("None" in r["headers"].get("authorization", "") for r in sim.requests)


def test_serve_refuses_a_named_upstream_key_that_does_not_resolve(monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdefghij")
    monkeypatch.setenv("GOODSTANDING_SECRET", "s" * 32)
    monkeypatch.setenv("GOODSTANDING_UPSTREAM__KEYS", '{team-a: "env:TEAM_A_UNSET"}')
    assert main(["serve", "--port", "1"]) == 2
    assert "upstream.keys.team-a: env:TEAM_A_UNSET is not set" in capsys.readouterr().err


async def _key(db_url: str, name: str, **kwargs):
    store = open_store(db_url)
    try:
        await store.migrate()
        key, token = await keys.create_key(store, name, **kwargs)
        return key.id, token
    finally:
        await store.close()


# -- limits --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["-5", "0", "1.5", "many"])
@pytest.mark.parametrize("flag", ["--rpm", "--tpm"])
def test_limits_must_be_positive_whole_numbers(db, capsys, flag, value):
    with pytest.raises(SystemExit) as exited:
        main(["keys", "create", "y", flag, value])
    assert exited.value.code == 2
    assert flag in capsys.readouterr().err


@pytest.mark.parametrize("field", ["end_user: {rpm: 0}", "key: {tpm: -5}", "ip: {rpm: 0}"])
def test_configured_limits_must_be_positive(tmp_path, field):
    with pytest.raises(ConfigError, match="greater than or equal to 1"):
        load_settings(_config(tmp_path, f"limits: {{{field}}}\n"), env={})


def test_each_429_names_its_limit_in_its_own_unit(start_gateway):
    gw = start_gateway()
    _, rpm_token = asyncio.run(_key(gw.db_url, "rpm-one", rpm=1))
    _, tpm_token = asyncio.run(_key(gw.db_url, "tpm-small", tpm=50))
    ask = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "user": "u"}
    gw.client(api_key=rpm_token).chat.completions.create(**ask)
    with pytest.raises(openai.RateLimitError) as by_requests:
        gw.client(api_key=rpm_token).chat.completions.create(**ask)
    message = by_requests.value.message
    assert "API-key requests per minute" in message and "limit 1 requests" in message
    assert "token" not in message and "prompt" not in message
    with pytest.raises(openai.RateLimitError) as by_tokens:
        gw.client(api_key=tpm_token).chat.completions.create(**ask)
    assert "API-key tokens per minute" in by_tokens.value.message
    assert "50 tokens" in by_tokens.value.message


# -- rotation grace ------------------------------------------------------------------------


def test_grace_without_a_unit_is_refused(db, capsys):
    assert main(["keys", "create", "z", "--json"]) == 0
    key_id = json.loads(capsys.readouterr().out)["id"]
    with pytest.raises(SystemExit):
        main(["keys", "rotate", key_id, "--grace", "24"])
    assert "give --grace a unit" in capsys.readouterr().err


def test_rotate_prints_the_absolute_expiry(db, capsys):
    assert main(["keys", "create", "z", "--json"]) == 0
    key_id = json.loads(capsys.readouterr().out)["id"]
    before = time.time()
    assert main(["keys", "rotate", key_id, "--grace", "24h"]) == 0
    out = capsys.readouterr().out
    stamp = re.search(r"until (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", out)
    assert stamp, out
    expected = time.strftime("%Y-%m-%d %H:%M", time.gmtime(before + 86400))
    assert stamp.group(1).startswith(expected[:13])


def test_old_key_works_until_the_grace_ends_then_is_refused(start_gateway, db):
    # one end user asks ~2 calls per 0.1 s through the grace: above the default 20 a minute
    gw = start_gateway(GOODSTANDING_LIMITS__END_USER__RPM="1000")
    ask = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "user": "u"}
    client = gw.client()
    client.chat.completions.create(**ask)  # the old key is cached by the gateway now
    _new, new_token = asyncio.run(_rotate(gw.db_url, gw.key_id, 1.5))
    old = gw.store_call("get_key", gw.key_id)
    assert abs(old.expires_at - (time.time() + 1.5)) < 0.5
    while time.time() < old.expires_at - 0.3:
        client.chat.completions.create(**ask)  # both work during the grace
        gw.client(api_key=new_token).chat.completions.create(**ask)
        time.sleep(0.1)
    time.sleep(max(0.0, old.expires_at - time.time()) + 0.01)
    with pytest.raises(openai.AuthenticationError) as refused:
        client.chat.completions.create(**ask)
    assert refused.value.code == "invalid_api_key"
    gw.client(api_key=new_token).chat.completions.create(**ask)


async def _rotate(db_url: str, key_id: str, grace: float):
    store = open_store(db_url)
    try:
        rotated = await keys.rotate_key(store, key_id, grace)
        await keys.announce(key_id, db_url, None)  # as `keys rotate` does
        return rotated
    finally:
        await store.close()


# -- keys list ------------------------------------------------------------------------------


def test_keys_list_has_a_header_and_shows_limits_tier_upstream_and_grace(tmp_path, db, capsys):
    config = _config(tmp_path, "upstream: {keys: {team-a: env:TEAM_A}}\n")
    assert main(["keys", "create", "alpha", "--rpm", "7", "--tpm", "900", "--tier", "verified",
                 "--upstream", "team-a", "--json", "--config", config]) == 0
    alpha = json.loads(capsys.readouterr().out)["id"]
    assert main(["keys", "rotate", alpha, "--grace", "2h", "--config", config]) == 0
    capsys.readouterr()
    assert main(["keys", "list", "--config", config]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split()
    for column in ("ID", "STATUS", "NAME", "TIER", "RPM", "TPM", "UPSTREAM", "CREATED"):
        assert column in header
    assert "LAST USED" in lines[0] and "GRACE UNTIL" in lines[0]
    old_row = next(line for line in lines if line.startswith(alpha))
    assert " grace " in old_row and "verified" in old_row and "team-a" in old_row
    assert " 7 " in old_row and " 900 " in old_row
    assert time.strftime("%Y-%m-%d", time.gmtime(time.time() + 7200)) in old_row.split("grace")[1]
    assert main(["keys", "list", "--json", "--config", config]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[alpha]["status"] == "grace" and rows[alpha]["grace_expires_at"] is not None
    assert rows[alpha]["limits"] == {"rpm": 7, "tpm": 900} and rows[alpha]["tier"] == "verified"


def test_last_use_and_nearing_rotation_are_described(start_gateway):
    gw = start_gateway()
    gw.client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], user="u")
    gw.gateway  # noqa: B018 - the audit log is flushed every 50 ms
    deadline = time.time() + 5
    rows = []
    while time.time() < deadline:
        store_rows = asyncio.run(_described(gw.db_url))
        rows = [r for r in store_rows if r["id"] == gw.key_id]
        if rows and rows[0]["last_used_at"]:
            break
        time.sleep(0.05)
    assert rows[0]["last_used_at"] and time.time() - rows[0]["last_used_at"] < 10
    young = keys.VirtualKey("a", "n", "n", "h", created_at=time.time() - 10 * 86400)
    old = keys.VirtualKey("b", "n", "n", "h", created_at=time.time() - 80 * 86400)
    assert not keys.describe(young)["nearing_rotation"]
    assert keys.describe(old)["nearing_rotation"]
    assert not keys.describe(old, max_age=200 * 86400)["nearing_rotation"]


async def _described(db_url: str):
    store = open_store(db_url)
    try:
        return await keys.describe_all(store)
    finally:
        await store.close()


# -- revocation reaches running gateways at once ----------------------------------------------


def test_revoke_from_the_cli_stops_the_next_call(start_gateway, monkeypatch, capsys):
    gw = start_gateway()
    monkeypatch.setenv("GOODSTANDING_DATABASE_URL", gw.db_url)
    client = gw.client()
    ask = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "user": "u"}
    client.chat.completions.create(**ask)  # cached as valid in the gateway
    assert main(["keys", "revoke", gw.key_id]) == 0
    assert "at once" in capsys.readouterr().out
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(**ask)


async def test_revocation_is_broadcast_over_redis():
    from goodstanding.stores.standing_redis import RedisStandingCache
    from tests.services import redis_url

    url = redis_url()
    standing = RedisStandingCache(url)
    cache = keys.key_cache("postgresql://elsewhere/db", standing)  # no marker file: Redis only
    try:
        assert await standing.wait_listening()
        key = keys.VirtualKey("abcdefabcdef", "n", "n", "h", 0.0)
        cache.put(key.id, key, time.monotonic())
        assert cache.get(key.id, time.monotonic()) == (True, key)
        how = await keys.announce(key.id, "postgresql://elsewhere/db", url)
        assert how == "every gateway applies it at once"
        deadline = time.monotonic() + 1
        while cache.get(key.id, time.monotonic())[0] and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        assert cache.get(key.id, time.monotonic()) == (False, None)
    finally:
        await standing.close()


# -- literal secrets in the file -------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "upstream: {key: sk-proj-" + "abcdefghijklmnopqrstuvwxyz}\n",
    "upstream: {keys: {team-a: sk-abcdefghijklmnopqrstuvwxyz}}\n",
    "upstream: {keys: {team-a: {key: sk-abc, project: proj_1}}}\n",
])
def test_a_literal_secret_in_the_file_is_refused(tmp_path, text, capsys):
    config = _config(tmp_path, text)
    with pytest.raises(ConfigError) as refused:
        load_settings(config, env={})
    message = str(refused.value)
    assert "env:" in message and "file:" in message and "\n" not in message
    assert "sk-" not in message.replace("sk-…", "")  # the secret is not echoed
    assert main(["keys", "list", "--config", config]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_a_literal_upstream_key_from_the_environment_is_fine():
    settings = load_settings(env={"OPENAI_API_KEY": UPSTREAM_KEY})
    assert settings.upstream_key() == UPSTREAM_KEY


@pytest.mark.postgres
def test_revoke_reaches_a_postgres_gateway_over_redis_at_once(start_gateway, monkeypatch, capsys):
    from tests.services import postgres_database, redis_url

    with postgres_database() as pg:
        gw = start_gateway(GOODSTANDING_DATABASE_URL=pg, GOODSTANDING_REDIS_URL=redis_url())
        monkeypatch.setenv("GOODSTANDING_DATABASE_URL", pg)
        monkeypatch.setenv("GOODSTANDING_REDIS_URL", redis_url())
        client = gw.client()
        ask = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
               "user": "u"}
        for _ in range(3):  # the listener is up and the key is cached
            client.chat.completions.create(**ask)
        assert main(["keys", "revoke", gw.key_id]) == 0
        assert "every gateway applies it at once" in capsys.readouterr().out
        time.sleep(0.05)  # one pub/sub hop
        with pytest.raises(openai.AuthenticationError):
            client.chat.completions.create(**ask)


def test_a_lookup_overtaken_by_a_revocation_is_not_cached():
    cache = keys.KeyCache()
    key = keys.VirtualKey("abcdefabcdef", "n", "n", "h", 0.0)
    generation = cache.generation  # the lookup starts…
    cache.drop(key.id)  # …a revocation is announced while it reads the database…
    cache.put(key.id, key, time.monotonic(), generation)  # …so its answer is not kept
    assert cache.get(key.id, time.monotonic()) == (False, None)
    cache.put(key.id, key, time.monotonic(), cache.generation)
    assert cache.get(key.id, time.monotonic()) == (True, key)
