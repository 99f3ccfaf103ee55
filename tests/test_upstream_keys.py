"""Upstream keys: references, the encrypted store, per-team projects, reloads and rotation.

Every scenario runs a real gateway in front of the simulated upstream and drives it with the
official SDK; rotations happen under continuous load and must fail no request.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any, Self

import httpx
import openai
import pytest

from goodstanding.cli import main
from goodstanding.credentials import keys
from goodstanding.credentials.keyring import fingerprint
from goodstanding.credentials.secretstore import SecretStore
from goodstanding.errors import ConfigError
from goodstanding.gateway import Gateway
from goodstanding.runner import serve_in_thread
from goodstanding.server.app import create_app
from goodstanding.settings import load_settings
from goodstanding.simulate import create_app as simulated
from goodstanding.stores import open_store
from tests.conftest import UPSTREAM_KEY, gateway_env

ASK = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}],
       "user": "u1"}
MASTER = "correct horse battery staple 42"
# continuous load must not meet the gateway's own limits
UNLIMITED = {"GOODSTANDING_LIMITS__END_USER__RPM": "null", "GOODSTANDING_LIMITS__END_USER__RPD":
             "null", "GOODSTANDING_LIMITS__END_USER__TPM": "null",
             "GOODSTANDING_LIMITS__IP__RPM": "null"}


def _trust(sim: Any, *values: str) -> None:
    """Make the simulator accept these keys (as if minted in the organization)."""
    for i, value in enumerate(values):
        sim.api_keys[f"key_test{i}_{value[-4:]}"] = {"id": f"key_t{i}", "value": value}


async def _key(db_url: str, name: str, **kwargs: Any) -> tuple[str, str]:
    store = open_store(db_url)
    try:
        await store.migrate()
        key, token = await keys.create_key(store, name, **kwargs)
        return key.id, token
    finally:
        await store.close()


def _authorizations(sim: Any, path: str = "/v1/chat/completions") -> list[tuple[str, str]]:
    return [(r["headers"].get("authorization", ""), r["headers"].get("openai-project", ""))
            for r in sim.requests if r["path"] == path]


def _after(sim: Any, marker: dict[str, Any] | None,
           path: str = "/v1/chat/completions") -> list[str]:
    """Chat (or ``path``) authorizations the simulator saw after ``marker`` (every kept one if
    it was dropped: the simulator keeps the last 1,000 requests)."""
    requests = list(sim.requests)
    start = next((i + 1 for i in range(len(requests) - 1, -1, -1) if requests[i] is marker), 0)
    return [r["headers"].get("authorization", "") for r in requests[start:]
            if r["path"] == path]


# -- per-team projects ----------------------------------------------------------------------


def test_two_virtual_keys_go_out_under_their_own_keys_and_projects(start_gateway, sim,
                                                                   monkeypatch, capsys):
    team_a, team_b = "sk-proj-teamA-" + "a" * 30, "sk-proj-teamB-" + "b" * 30
    _trust(sim, team_a, team_b)
    gw_env = {"GOODSTANDING_UPSTREAM__KEYS": '{team-a: {key: "env:TEAM_A", project: proj_a}, '
                                             'team-b: {key: "env:TEAM_B", project: proj_b}}'}
    gw = start_gateway(TEAM_A=team_a, TEAM_B=team_b, **gw_env)
    _, token_a = asyncio.run(_key(gw.db_url, "app-a", upstream="team-a"))
    _, token_b = asyncio.run(_key(gw.db_url, "app-b", upstream="team-b"))
    before = {name: _count(gw.url, name) for name in ("team-a", "team-b")}
    gw.client(api_key=token_a).chat.completions.create(**ASK)
    gw.client(api_key=token_b).chat.completions.create(**ASK)
    gw.client().chat.completions.create(**ASK)  # the default key, no project
    sent = _authorizations(sim)
    assert sent == [(f"Bearer {team_a}", "proj_a"), (f"Bearer {team_b}", "proj_b"),
                    (f"Bearer {UPSTREAM_KEY}", "")]
    moderation = _authorizations(sim, "/v1/moderations")
    assert (f"Bearer {team_a}", "proj_a") in moderation  # moderated in the team's project too
    # (moderation calls are not counted: they are the moderation stage's)
    assert {name: _count(gw.url, name) - before[name] for name in before} == \
        {"team-a": 1, "team-b": 1}
    metrics = httpx.get(f"{gw.url}/metrics").text
    assert team_a not in metrics and team_b not in metrics
    for name, value in {"GOODSTANDING_DATABASE_URL": gw.db_url, "TEAM_A": team_a,
                        "TEAM_B": team_b, **gw_env}.items():
        monkeypatch.setenv(name, value)
    rows: dict[str, Any] = {}
    deadline = time.time() + 5
    while time.time() < deadline and _day(rows, "team-b").get("requests") != 1:
        time.sleep(0.05)  # the audit log is written in batches
        assert main(["upstream", "list", "--json"]) == 0
        rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert _day(rows, "team-a")["requests"] == 1 and _day(rows, "team-b")["requests"] == 1
    assert _day(rows, "team-a")["tokens_in"] > 0 and rows["team-a"]["virtual_keys"] == 1
    assert rows["team-a"]["project"] == "proj_a" and rows["team-a"]["kept_in"] == "env"


def _day(rows: dict[str, Any], name: str) -> dict[str, Any]:
    return rows.get(name, {}).get("windows", {}).get("24h", {})


def _wait_for(condition: Any, seconds: float = 15.0) -> None:
    deadline = time.time() + seconds
    while not condition() and time.time() < deadline:
        time.sleep(0.05)


def _count(url: str, upstream: str) -> float:
    series = f'goodstanding_upstream_requests_total{{upstream="{upstream}",status="2xx"}} '
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith(series):
            return float(line[len(series):])
    return 0.0


# -- the encrypted store -----------------------------------------------------------------------


def test_secrets_cli_round_trip_is_encrypted_at_rest(tmp_path, monkeypatch, capsys):
    path = tmp_path / "gs.secrets"
    monkeypatch.setenv("GOODSTANDING_SECRETS_FILE", str(path))
    monkeypatch.setenv("GOODSTANDING_MASTER_KEY", MASTER)
    value = "sk-proj-stored-" + "z" * 30
    monkeypatch.setattr("sys.stdin", _Stdin(value + "\n"))
    assert main(["secrets", "set", "team-a"]) == 0
    assert "secret:team-a" in capsys.readouterr().out
    assert value not in path.read_text() and "stored" not in path.read_text()
    assert path.stat().st_mode & 0o077 == 0
    assert main(["secrets", "list", "--json"]) == 0
    listed = capsys.readouterr().out
    assert json.loads(listed)[0]["name"] == "team-a" and value not in listed
    config = tmp_path / "gs.yaml"
    config.write_text("upstream: {keys: {team-a: secret:team-a}}\n")
    assert load_settings(config).upstream_key("team-a") == value
    wrong = load_settings(config, env={"GOODSTANDING_SECRETS_FILE": str(path),
                                       "GOODSTANDING_MASTER_KEY": "another master key!!"})
    with pytest.raises(ConfigError, match="does not decrypt") as refused:
        wrong.upstream_key("team-a")
    assert value not in str(refused.value)
    assert main(["secrets", "delete", "team-a"]) == 0
    assert main(["secrets", "delete", "team-a"]) == 1


def test_a_stored_value_moved_to_another_name_does_not_decrypt(tmp_path):
    store = SecretStore(tmp_path / "s", MASTER)
    store.put("a", "sk-value-a")
    document = json.loads((tmp_path / "s").read_text())
    document["secrets"]["b"] = document["secrets"]["a"]
    (tmp_path / "s").write_text(json.dumps(document))
    assert store.get("a") == "sk-value-a"
    with pytest.raises(ConfigError, match="does not decrypt"):
        store.get("b")


class _Stdin:
    def __init__(self, text: str) -> None:
        self.text = text

    def isatty(self) -> bool:
        return False

    def read(self) -> str:
        return self.text


# -- reload of a file-referenced key, under load -----------------------------------------------


class Load:
    """Clients calling the gateway without pause (some streaming) until stopped."""

    def __init__(self, url: str, token: str, threads: int = 4) -> None:
        self.url, self.token = url, token
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def __enter__(self) -> Self:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self, i: int) -> None:
        client = openai.OpenAI(base_url=f"{self.url}/v1", api_key=self.token, max_retries=0)
        while not self._stop.is_set():
            try:
                if i % 2:
                    stream = client.chat.completions.create(**ASK, stream=True)
                    assert any(chunk.choices for chunk in stream)
                else:
                    client.chat.completions.create(**ASK)
                self.ok += 1
            except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
                self.failures.append(f"{type(exc).__name__}: {exc}")


def test_a_replaced_key_file_takes_over_with_no_failed_request(start_gateway, sim, tmp_path):
    old, new = "sk-proj-file-old-" + "o" * 30, "sk-proj-file-new-" + "n" * 30
    _trust(sim, old, new)
    key_file = tmp_path / "openai.key"
    key_file.write_text(old + "\n")
    gw = start_gateway(GOODSTANDING_UPSTREAM__KEY=f"file:{key_file}",
                       GOODSTANDING_UPSTREAM__RELOAD_INTERVAL="0.2", **UNLIMITED)
    sim.config.chunk_delay = 0.01  # streams stay in flight across the switch
    with Load(gw.url, gw.token) as load:
        time.sleep(0.5)
        swap = tmp_path / "openai.key.new"
        swap.write_text(new + "\n")
        swap.replace(key_file)  # an atomic replace, as `upstream rotate` and kubelet do
        deadline = time.time() + 5
        while time.time() < deadline and not any(new in a for a, _ in _authorizations(sim)):
            time.sleep(0.05)
        switched = sim.requests[-1]
        time.sleep(1.0)  # requests in flight with the old key finish
        del sim.api_keys[next(k for k, v in sim.api_keys.items() if v["value"] == old)]
        time.sleep(0.5)  # traffic goes on with only the new key valid
    assert load.failures == [] and load.ok > 20
    after = _after(sim, switched)
    assert after and all(new in a for a in after[len(after) // 2:])
    assert gw.gateway.settings.keyring.reloads == 1
    in_use = _in_use(gw.url)  # /metrics names the key the gateway sends now, not the old one
    assert in_use.get(fingerprint(new)) == 1 and fingerprint(old) not in in_use


def test_a_half_written_key_file_keeps_the_previous_key(start_gateway, sim, tmp_path):
    key_file = tmp_path / "openai.key"
    key_file.write_text(UPSTREAM_KEY)
    gw = start_gateway(GOODSTANDING_UPSTREAM__KEY=f"file:{key_file}",
                       GOODSTANDING_UPSTREAM__RELOAD_INTERVAL="0.05")
    key_file.write_text("")  # truncated, not yet written
    time.sleep(0.1)
    gw.client().chat.completions.create(**ASK)
    assert _authorizations(sim)[-1][0] == f"Bearer {UPSTREAM_KEY}"


# -- rotation through the (simulated) Admin API, under load ------------------------------------


@pytest.fixture
def org() -> Any:
    """A simulated organization of its own, with an admin key."""
    app = simulated(api_key="sk-bootstrap-" + "x" * 30, admin_key="sk-admin-" + "A" * 40)
    with serve_in_thread(app) as url:
        app.url = url
        yield app


def _mint(org: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{org.url}/v1/organization/projects/proj_a/service_accounts/sa_a/api_keys",
        headers={"authorization": f"Bearer {org.admin_key}"}, json={"name": "first"})
    response.raise_for_status()
    return response.json()


@pytest.mark.parametrize("kept_in", ["secret", "file"])
def test_upstream_rotate_switches_with_no_failed_request_and_deletes_the_old_key(
        org, tmp_path, monkeypatch, capsys, kept_in):
    first = _mint(org)
    env = gateway_env(tmp_path, org.url, OPENAI_ADMIN_KEY=org.admin_key,
                      GOODSTANDING_SECRETS_FILE=str(tmp_path / "gs.secrets"),
                      GOODSTANDING_MASTER_KEY=MASTER, **UNLIMITED)
    del env["OPENAI_API_KEY"]
    if kept_in == "secret":
        SecretStore(tmp_path / "gs.secrets", MASTER).put("team-a", first["value"],
                                                         key_id=first["id"])
        ref = "secret:team-a"
    else:
        (tmp_path / "team-a.key").write_text(first["value"])
        ref = f"file:{tmp_path / 'team-a.key'}"
    config = tmp_path / "gs.yaml"
    config.write_text(
        "upstream:\n  reload_interval: 0.2\n  keys:\n    team-a: {{key: '{}', project: proj_a,"
        " service_account: sa_a, key_id: {}, admin_key: env:OPENAI_ADMIN_KEY}}\n".format(ref, first["id"]))
    env["GOODSTANDING_CONFIG"] = str(config)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    _, token = asyncio.run(_key(settings.storage.database_url, "app-a", upstream="team-a"))
    org.config.chunk_delay = 0.01
    with serve_in_thread(create_app(Gateway.build(settings))) as url, Load(url, token) as load:
        _wait_for(lambda: len(_after(org, None)) >= 4)  # a loaded machine starts slowly
        before = _after(org, None)
        assert main(["upstream", "rotate", "team-a", "--drain", "1s"]) == 0
        time.sleep(0.4)  # traffic goes on after the old key is gone
    out = capsys.readouterr().out
    assert f"deleted the old key {first['id']}" in out and first["value"] not in out
    assert org.deleted_keys == [first["id"]] and first["id"] not in org.api_keys
    (new,) = org.api_keys.values()
    assert load.failures == [] and load.ok > 20
    assert before and set(before) == {f"Bearer {first['value']}"}
    assert _after(org, None)[-20:] == [f"Bearer {new['value']}"] * 20
    assert settings.keyring.key("team-a") == new["value"]


def test_rotation_needs_a_reference_it_can_rewrite(tmp_path, monkeypatch, capsys):
    config = tmp_path / "gs.yaml"
    config.write_text("upstream: {keys: {team-a: {key: env:TEAM_A, project: p, "
                      "service_account: s}}}\n")
    monkeypatch.setenv("GOODSTANDING_CONFIG", str(config))
    assert main(["upstream", "rotate", "team-a"]) == 2
    assert "file:/path or secret:NAME" in capsys.readouterr().err


def test_rotate_due_picks_keys_past_their_max_age(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GOODSTANDING_DATABASE_URL", f"sqlite:///{tmp_path / 'k.db'}")
    fresh, stale = tmp_path / "fresh.key", tmp_path / "stale.key"
    fresh.write_text("sk-fresh-" + "f" * 30)
    stale.write_text("sk-stale-" + "s" * 30)
    (tmp_path / "stale.key.meta.json").write_text(json.dumps(
        {"key_id": "key_old", "created_at": time.time() - 100 * 86400}))
    config = tmp_path / "gs.yaml"
    config.write_text(f"upstream:\n  keys:\n    fresh: {{key: 'file:{fresh}', max_age: 90d}}\n"
                      f"    stale: {{key: 'file:{stale}', max_age: 90d}}\n")
    from goodstanding.credentials import rotation

    assert rotation.due(load_settings(config), {}) == ["stale"]
    assert main(["upstream", "list", "--json", "--config", str(config)]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["stale"]["age"] > 99 * 86400 and rows["fresh"]["age"] < 60
    assert rows["stale"]["fingerprint"] == "sk-…ssss" and "sk-stale" not in json.dumps(rows)


def test_sighup_makes_the_next_request_reread_the_key_file(tmp_path):
    import os
    import signal

    key_file = tmp_path / "k"
    key_file.write_text("sk-before-" + "b" * 30)
    settings = load_settings(env={"GOODSTANDING_UPSTREAM__KEY": f"file:{key_file}",
                                  "GOODSTANDING_UPSTREAM__RELOAD_INTERVAL": "3600"})
    keyring = settings.keyring
    previous = signal.getsignal(signal.SIGHUP)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        assert keyring.install_sighup()
        assert keyring.key(None) == "sk-before-" + "b" * 30
        key_file.write_text("sk-after-" + "a" * 30)
        assert keyring.key(None) == "sk-before-" + "b" * 30  # not re-read for an hour…
        os.kill(os.getpid(), signal.SIGHUP)
        assert keyring.key(None) == "sk-after-" + "a" * 30  # …unless told
    finally:
        signal.signal(signal.SIGHUP, previous)


def _in_use(url: str) -> dict[str, float]:
    """The default upstream key's fingerprints in use, summed over the workers (/metrics)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", timeout=5).text
    return {sample.labels["fingerprint"]: sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "goodstanding_upstream_key_in_use"
            for sample in family.samples if sample.labels["upstream"] == "default"}


@pytest.mark.timeout(120)
def test_sighup_to_a_multi_worker_gateway_switches_every_worker_with_no_failure(sim, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from tests.test_workers import free_port, wait_healthy

    old, new = "sk-proj-hup-old-" + "o1" * 15, "sk-proj-hup-new-" + "n2" * 15
    _trust(sim, old, new)
    key_file = tmp_path / "openai.key"
    key_file.write_text(old)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOODSTANDING_")}
    env |= {**gateway_env(tmp_path, sim.url, **UNLIMITED),
            "GOODSTANDING_UPSTREAM__KEY": f"file:{key_file}",
            "GOODSTANDING_UPSTREAM__RELOAD_INTERVAL": "3600"}  # only SIGHUP re-reads
    del env["OPENAI_API_KEY"]
    _, token = asyncio.run(_key(env["GOODSTANDING_DATABASE_URL"], "app"))
    server = subprocess.Popen(
        [sys.executable, "-m", "goodstanding.cli", "serve", "--port", str(port), "--workers",
         "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, server)
        with Load(url, token, threads=8) as load:
            # the load is under way (its first calls took over a second on a loaded machine)
            _wait_for(lambda: len(_authorizations(sim)) >= 20, 30)
            # both workers send the old key (serve answers once one worker is up; the other
            # may still be starting, 6-9 s on a loaded machine)
            _wait_for(lambda: _in_use(url) == {fingerprint(old): 2}, 60)
            assert _in_use(url) == {fingerprint(old): 2}
            swap = tmp_path / "openai.key.new"
            swap.write_text(new)
            swap.replace(key_file)
            time.sleep(0.3)
            assert all(old in a for a, _ in _authorizations(sim)[-20:])  # not re-read yet
            server.send_signal(signal.SIGHUP)
            # the product's signal that the old key may go: no worker sends it any more (the
            # new workers took 6-9 s to start here; the old ones then drain and stop)
            _wait_for(lambda: _in_use(url) == {fingerprint(new): 2}, 60)
            assert _in_use(url) == {fingerprint(new): 2}
            switched = sim.requests[-1]
            del sim.api_keys[next(k for k, v in sim.api_keys.items() if v["value"] == old)]
            time.sleep(1.5)  # traffic goes on with only the new key valid
        assert server.poll() is None  # SIGHUP did not stop the server
    finally:
        server.terminate()
        output = server.communicate(timeout=15)[0]
    assert load.failures == [] and load.ok > 20, output[-3000:]
    assert "reload complete: the old workers have drained" in output
    after = _after(sim, switched)
    assert len(after) > 10 and all(new in a for a in after)
    moderated = _after(sim, switched, "/v1/moderations")  # the gateway's own calls too
    assert moderated and all(new in a for a in moderated)


class VaultDouble:
    """Just enough of Vault's KV v2 read API (GET /v1/MOUNT/data/PATH) for the hvac client."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.data: dict[str, dict[str, str]] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        path = scope["path"].removeprefix("/v1/secret/data/")
        if headers.get("x-vault-token") != self.token:
            status, body = 403, {"errors": ["permission denied"]}
        elif path not in self.data:
            status, body = 404, {"errors": []}
        else:
            status, body = 200, {"data": {"data": self.data[path], "metadata": {
                "version": 1, "deletion_time": "", "destroyed": False}}}
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})


def test_a_vault_reference_is_read_and_reread_on_reload():
    vault = VaultDouble("hvs.test-token")
    vault.data["openai/team-a"] = {"key": "sk-proj-from-vault-" + "v1" * 15}
    with serve_in_thread(vault) as url:
        env = {"VAULT_ADDR": url, "VAULT_TOKEN": "hvs.test-token",
               "GOODSTANDING_UPSTREAM__KEYS": '{team-a: "vault:openai/team-a#key"}'}
        keyring = load_settings(env=env).keyring
        assert keyring.key("team-a") == "sk-proj-from-vault-" + "v1" * 15
        vault.data["openai/team-a"] = {"key": "sk-proj-from-vault-" + "v2" * 15}
        assert keyring.key("team-a").endswith("v1")  # Vault is not polled…
        keyring.request_reload()
        assert keyring.key("team-a") == "sk-proj-from-vault-" + "v2" * 15  # …but re-read on HUP
        wrong = load_settings(env={**env, "VAULT_TOKEN": "hvs.wrong"}).keyring
        with pytest.raises(ConfigError, match="upstream.keys.team-a: Vault refused"):
            wrong.load()
        missing = load_settings(env={**env, "GOODSTANDING_UPSTREAM__KEYS":
                                     '{team-a: "vault:openai/team-a#nope"}'}).keyring
        with pytest.raises(ConfigError, match="has no field nope"):
            missing.load()
