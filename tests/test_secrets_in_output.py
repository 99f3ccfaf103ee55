"""No configured secret ever leaves: not in logs, responses, errors, metrics, records or the CLI.

One scenario touches every way out (answers, streams, refusals, upstream errors, an upstream
key sent by a client, a missing upstream key, metrics, readiness, audit records, the keys and
upstream commands) and then greps everything captured for every configured secret.
"""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import openai
import pytest

from goodstanding.cli import main
from goodstanding.credentials import keys
from goodstanding.credentials.secretstore import SecretStore
from goodstanding.stores import open_store
from tests.conftest import UPSTREAM_KEY

TEAM_FILE = "sk-proj-team-file-" + "F" * 32
TEAM_STORED = "sk-svcacct-team-stored-" + "S" * 32
ADMIN = "sk-admin-" + "K" * 40
MASTER = "a master key of some length"


def test_no_configured_secret_appears_in_any_output(start_gateway, sim, tmp_path, caplog,
                                                    capsys, monkeypatch):
    caplog.set_level(logging.DEBUG)
    (tmp_path / "team.key").write_text(TEAM_FILE)
    SecretStore(tmp_path / "gs.secrets", MASTER).put("team-b", TEAM_STORED)
    sim.api_keys["k1"] = {"id": "k1", "value": TEAM_FILE}  # team-b's key is not accepted
    env = {
        "GOODSTANDING_UPSTREAM__KEYS": (
            f'{{team-a: {{key: "file:{tmp_path / "team.key"}", project: proj_a, '
            'admin_key: "env:OPENAI_ADMIN_KEY"}, team-b: "secret:team-b", '
            'team-c: "env:TEAM_C_UNSET"}'),
        "OPENAI_ADMIN_KEY": ADMIN, "GOODSTANDING_SECRETS_FILE": str(tmp_path / "gs.secrets"),
        "GOODSTANDING_MASTER_KEY": MASTER,
    }
    gw = start_gateway(**env)
    secrets = [UPSTREAM_KEY, TEAM_FILE, TEAM_STORED, ADMIN, MASTER, gw.settings.identity.secret]
    seen: list[str] = []
    tokens = {name: asyncio.run(_key(gw.db_url, name, upstream=name))
              for name in ("team-a", "team-b", "team-c")}
    ask = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "user": "u"}
    calls = [
        lambda c: c.chat.completions.create(**ask),
        lambda c: list(c.chat.completions.create(**ask, stream=True)),
        lambda c: c.chat.completions.create(**{**ask, "messages": [
            {"role": "user", "content": "[[fault:500]] hi"}]}),
        lambda c: c.chat.completions.create(**{**ask, "messages": [
            {"role": "user", "content": "[[fault:invalid_prompt]] hi"}]}),
        lambda c: c.responses.create(model="gpt-4o-mini", input="hi", user="u"),
        lambda c: c.embeddings.create(model="text-embedding-3-small", input="hi"),
        lambda c: c.models.list(),
    ]
    clients = [gw.client(), *(gw.client(api_key=t) for t in tokens.values()),
               # a client holding the real upstream key, and one holding the admin key
               gw.client(api_key=UPSTREAM_KEY), gw.client(api_key=ADMIN)]
    for client in clients:
        for call in calls:
            seen.append(_outcome(call, client))
    for path in ("/metrics", "/readyz", "/healthz", "/v1/nothing"):
        response = httpx.get(gw.url + path)
        seen.append(response.text + json.dumps(dict(response.headers)))
    monkeypatch.setenv("GOODSTANDING_DATABASE_URL", gw.db_url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for command in (["keys", "list"], ["keys", "list", "--json"], ["upstream", "list"],
                    ["upstream", "list", "--json"], ["secrets", "list", "--json"]):
        main(command)
    captured = capsys.readouterr()
    seen += [captured.out, captured.err]
    seen += [json.dumps(r, default=str) for r in gw.store_call("query_audit", limit=1000)]
    seen += [record.getMessage() + str(record.args) + (record.exc_text or "")
             for record in caplog.records]
    everything = "\n".join(seen)
    assert "upstream_key_in_client" in everything and "proj_a" not in captured.err
    for secret in secrets:
        assert secret and secret not in everything, f"a secret leaked: {secret[:6]}…"
        assert secret[8:-4] not in everything  # nor a large piece of one


def _outcome(call, client) -> str:
    try:
        result = call(client)
    except openai.APIStatusError as exc:
        return f"{exc.status_code} {exc.message} {exc.body} {dict(exc.response.headers)}"
    except openai.APIError as exc:
        return f"{type(exc).__name__} {exc}"
    return repr(result)


async def _key(db_url: str, name: str, **kwargs) -> str:
    store = open_store(db_url)
    try:
        await store.migrate()
        return (await keys.create_key(store, name, **kwargs))[1]
    finally:
        await store.close()


@pytest.mark.parametrize("sent", [
    "sk-proj-" + "a1B2" * 20, "sk-" + "x" * 48, "sk-svcacct-" + "Q" * 60, "sk-admin-" + "Z" * 50,
])
def test_an_openai_key_sent_by_a_client_is_refused_and_recorded(gw, sent, caplog):
    with pytest.raises(openai.AuthenticationError) as refused:
        gw.client(api_key=sent).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], user="u")
    assert refused.value.code == "upstream_key_in_client"
    assert "rotate" in refused.value.message and sent not in refused.value.message
    metrics = httpx.get(f"{gw.url}/metrics").text
    assert "goodstanding_upstream_keys_in_clients_total" in metrics
    assert any("leaked into a client" in r.getMessage() for r in caplog.records)
    deadline = 50
    rows: list = []
    while deadline and not rows:
        rows = [r for r in gw.store_call("query_audit", limit=10)
                if "upstream_key_in_client" in r["reasons"]]
        deadline -= 1
        if not rows:
            import time

            time.sleep(0.05)
    assert rows and rows[0]["status"] == 401 and rows[0]["key_id"] is None
