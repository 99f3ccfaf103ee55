"""No configured secret ever leaves: not in logs, responses, errors, metrics, records, the CLI,
the admin API or the dashboard.

One scenario touches every way out (answers, streams, refusals, upstream errors, an upstream
key sent by a client, a missing upstream key, metrics, readiness, audit records, the keys and
upstream commands, every admin API route that reads, the admin API's key creation and rotation,
every dashboard page) and then greps everything captured for every configured secret: the
upstream keys, the admin key, the master key, the admin tokens, the webhook secret, the
identity secret and every virtual key's secret once it has been shown (the one answer that
shows a new key is grepped for every other secret).
"""

from __future__ import annotations

import asyncio
import base64
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
ROOT = "admin-root-token-" + "R" * 24
OPS = "admin-ops-token-" + "O" * 24
WEBHOOK = "whsec_" + base64.b64encode(b"the webhook secret, 32 bytes!!!!").decode()


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
        "GOODSTANDING_MASTER_KEY": MASTER, "GOODSTANDING_ADMIN_TOKEN": ROOT,
        "GOODSTANDING_ADMIN_TOKENS": "ops:env:OPS_TOKEN", "OPS_TOKEN": OPS,
        "OPENAI_WEBHOOK_SECRET": WEBHOOK,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # env: references resolve from the environment
    gw = start_gateway(**env)
    seen: list[str] = []
    tokens = {name: asyncio.run(_key(gw.db_url, name, upstream=name))
              for name in ("team-a", "team-b", "team-c")}
    secrets = [UPSTREAM_KEY, TEAM_FILE, TEAM_STORED, ADMIN, MASTER, gw.settings.identity.secret,
               ROOT, OPS, WEBHOOK, gw.token, *tokens.values()]
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
    shown_once = _admin_api(gw.url, seen, secrets) + _dashboard(gw.url, seen, secrets)
    monkeypatch.setenv("GOODSTANDING_DATABASE_URL", gw.db_url)
    for command in (["keys", "list"], ["keys", "list", "--json"], ["upstream", "list"],
                    ["upstream", "list", "--json"], ["upstream", "show", "team-a"],
                    ["secrets", "list", "--json"]):
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
    for revealed, answer in shown_once:  # the answer that shows a new key shows nothing else
        assert revealed in answer
        for secret in secrets:
            if secret != revealed:
                assert secret not in answer and secret[8:-4] not in answer


ADMIN_READS = ["/keys", "/users", "/users?status=banned", "/events?limit=1000",
               "/events/export", "/usage?group_by=key&group_by=model", "/standing", "/alerts",
               "/upstream", "/upstream/team-a", "/upstream/team-b", "/upstream/nothing",
               "/openapi.json", "/safety-identifiers/" + "0" * 64, "/keys/nothing"]


def _admin_api(url: str, seen: list[str], secrets: list[str]) -> list[tuple[str, str]]:
    """Every admin API read, a wrong token, and a key created and rotated through the API:
    their answers go to ``seen``; a new key's secret joins ``secrets``, and the one answer
    that shows it is returned beside it."""
    api = httpx.Client(base_url=f"{url}/admin/api", timeout=20,
                       headers={"authorization": f"Bearer {OPS}"})
    shown: list[tuple[str, str]] = []
    with api:
        created = api.post("/keys", json={"name": "admin-made", "upstream": "team-a"})
        assert created.status_code == 201, created.text
        new = created.json()
        shown.append((new["key"], created.text + json.dumps(dict(created.headers))))
        rotated = api.post(f"/keys/{new['id']}/rotate", json={"grace": "1h"})
        assert rotated.status_code == 201, rotated.text
        shown.append((rotated.json()["key"], rotated.text + json.dumps(dict(rotated.headers))))
        secrets += [new["key"], rotated.json()["key"]]
        ids = [k["id"] for k in api.get("/keys").json()]
        users = [u["end_user"] for u in api.get("/users").json()["data"]][:3]
        paths = [*ADMIN_READS, *(f"/keys/{i}" for i in ids),
                 *(f"/keys/{i}/policy" for i in ids), *(f"/users/{u}" for u in users)]
        for path in paths:
            answer = api.get(path)
            assert answer.status_code < 500, (path, answer.text)
            assert answer.status_code != 401, path
            seen.append(f"{path} {answer.status_code} {answer.text} {dict(answer.headers)}")
        refused = httpx.get(f"{url}/admin/api/keys", headers={"authorization": "Bearer wrong"})
        seen.append(refused.text + json.dumps(dict(refused.headers)))
    return shown


DASHBOARD_PAGES = ["/admin/", "/admin/?window=7d", "/admin/users", "/admin/keys",
                   "/admin/alerts", "/admin/login"]


def _dashboard(url: str, seen: list[str], secrets: list[str]) -> list[tuple[str, str]]:
    """Every dashboard page, signed in with the root token, and a key created through it."""
    from tests.test_dashboard import parsed

    shown: list[tuple[str, str]] = []
    with httpx.Client(base_url=url, timeout=20) as board:
        login = board.get("/admin/login")
        seen.append(login.text)
        signed = board.post("/admin/login", data={"csrf": parsed(login.text).csrf[0],
                                                  "token": ROOT})
        assert signed.status_code in (200, 303), signed.text
        seen.append(signed.text + json.dumps(dict(signed.headers)))
        keys_page = board.get("/admin/keys").text
        assert "Upstream keys" in keys_page and "proj_a" in keys_page  # signed in, all shown
        links = [link for link in parsed(keys_page).links if link.startswith("/admin/")]
        users = board.get("/admin/users").text
        links += [link for link in parsed(users).links if link.startswith("/admin/users/")]
        for path in dict.fromkeys([*DASHBOARD_PAGES, *links]):
            page = board.get(path)
            assert page.status_code < 500, (path, page.text[:200])
            seen.append(f"{path} {page.status_code} {page.text} {dict(page.headers)}")
        made = board.post("/admin/keys", data={"csrf": parsed(keys_page).csrf[0],
                                               "name": "board-made"})
        assert made.status_code == 200 and "shown this once" in made.text, made.text[:300]
        token = _shown_secret(made.text)
        shown.append((token, made.text))
        secrets.append(token)
        seen.append(board.get("/admin/keys").text)  # the list after the creation
    return shown


def _shown_secret(html: str) -> str:
    start = html.index("id='secret'>") + len("id='secret'>")
    return html[start:html.index("</p>", start)]


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
