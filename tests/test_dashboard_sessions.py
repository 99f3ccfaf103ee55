"""A dashboard session ends everywhere at once: sign-out on one gateway process refuses the
copied cookie on every other process and worker sharing the database (the revocation is in
the database, checked on each dashboard request); "sign out everywhere" and the admin API's
``POST /admin/api/sessions/revoke`` end every session of an admin token. Also the incidents
page: an operator records a resolution by form (CSRF-checked) and the admin API lists it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from goodstanding.incidents.classify import classify
from tests.scale_helpers import free_port, wait_healthy
from tests.test_dashboard import browser, parsed, sign_in

ROOT = "dash-root-token-0123456789abcdef"
TOKENS = "ops:dash-ops-token-0123456789abcdef"


def cookie_of(client: httpx.Client) -> str:
    value = client.cookies.get("gs_admin")
    assert value
    return value


def replay(url: str, cookie: str, path: str = "/admin/") -> int:
    """A fresh connection carrying a copied cookie (as a stolen one would arrive)."""
    with httpx.Client(base_url=url, cookies={"gs_admin": cookie}, timeout=20) as other:
        return other.get(path).status_code


def logout(client: httpx.Client, everywhere: bool = False) -> httpx.Response:
    csrf = parsed(client.get("/admin/alerts").text).csrf[0]
    data = {"csrf": csrf, **({"everywhere": "1"} if everywhere else {})}
    return client.post("/admin/logout", data=data)


def test_sign_out_on_one_gateway_refuses_the_cookie_on_another(start_gateway):
    first = start_gateway(GOODSTANDING_ADMIN_TOKEN=ROOT)
    second = start_gateway(GOODSTANDING_ADMIN_TOKEN=ROOT)  # another process's twin, one db
    assert first.db_url == second.db_url and first.url != second.url
    with browser(first) as client:
        sign_in(client)
        stolen = cookie_of(client)
        assert replay(second.url, stolen) == 200  # one signing key: valid on both
        assert logout(client).status_code == 303
    assert replay(second.url, stolen) == 303  # to the sign-in page, at once
    assert replay(first.url, stolen) == 303


def test_sign_out_everywhere_ends_every_session_of_the_token(start_gateway):
    gw = start_gateway(GOODSTANDING_ADMIN_TOKEN=ROOT, GOODSTANDING_ADMIN_TOKENS=TOKENS)
    with browser(gw) as a, browser(gw) as b, browser(gw) as other:
        sign_in(a)
        sign_in(b)
        sign_in(other, "dash-ops-token-0123456789abcdef")
        assert logout(a, everywhere=True).status_code == 303
        assert b.get("/admin/").status_code == 303  # the same token's other session
        assert other.get("/admin/").status_code == 200  # another token's: untouched
        sign_in(a)  # a new sign-in after it works (issued after the revocation)
        assert a.get("/admin/").status_code == 200


def test_the_admin_api_revokes_a_tokens_sessions(start_gateway):
    gw = start_gateway(GOODSTANDING_ADMIN_TOKEN=ROOT, GOODSTANDING_ADMIN_TOKENS=TOKENS)
    with browser(gw) as ops:
        sign_in(ops, "dash-ops-token-0123456789abcdef")
        api = {"authorization": f"Bearer {ROOT}"}
        missing = httpx.post(f"{gw.url}/admin/api/sessions/revoke", json={"name": "nobody"},
                             headers=api)
        assert missing.status_code == 404
        assert ops.get("/admin/").status_code == 200
        done = httpx.post(f"{gw.url}/admin/api/sessions/revoke", json={"name": "ops"},
                          headers=api)
        assert done.status_code == 200 and done.json()["name"] == "ops"
        assert ops.get("/admin/").status_code == 303
    deadline = time.monotonic() + 10  # journaled at once, in the database a batch later
    while not (found := [r for r in gw.store_call("query_audit",
                                                  endpoint="admin.sessions.revoke")
                         if r["status"] == 200]):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    [record] = found
    assert record["actor"] == "admin" and "name:ops" in record["reasons"]


def test_a_database_that_does_not_answer_lets_no_session_through(start_gateway, monkeypatch):
    gw = start_gateway(GOODSTANDING_ADMIN_TOKEN=ROOT)
    with browser(gw) as client:
        sign_in(client)
        assert client.get("/admin/").status_code == 200
        bounded = gw.gateway.store  # storage.timeout around every operation
        store = bounded.inner

        async def frozen(scopes: Any) -> dict[str, float]:
            import asyncio

            await asyncio.sleep(60)
            return {}

        monkeypatch.setattr(store, "session_revocations", frozen)  # the database hangs
        monkeypatch.delitem(bounded.__dict__, "session_revocations", raising=False)
        started = time.monotonic()
        answer = client.get("/admin/")
        assert answer.status_code == 503 and "cannot be checked" in answer.text
        assert time.monotonic() - started < 10  # bounded by storage.timeout


def test_an_incident_is_resolved_by_form_with_csrf(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_ADMIN_TOKEN=ROOT,
                       GOODSTANDING_MODERATION__ON_ERROR="fail_open",
                       GOODSTANDING_MODERATION__OUTPUT="off")
    sim.config.moderation = "down"
    gw.client().chat.completions.create(model="gpt-4o-mini", safety_identifier="al", messages=[
        {"role": "user", "content": "an unmoderated hello"}])
    sim.config.moderation = "ok"
    deadline = time.monotonic() + 10
    # the call's own record, not only the alert it raised: the alert can land first (the
    # audit writer batches), and alone it makes an incident of its rule
    while not [r for r in gw.store_call("query_trouble")
               if classify(r) == ("moderation_unavailable", "")]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with browser(gw) as client:
        sign_in(client)
        page = client.get("/admin/incidents")
        assert page.status_code == 200 and "Moderation unavailable" in page.text
        link = next(x for x in parsed(page.text).links if x.endswith("/confirm"))
        incident_id = link.split("/")[3]
        overview = client.get("/admin/").text
        assert f"<td>{incident_id}</td><td>Moderation unavailable</td>" in overview
        confirm = client.get(link)
        form = parsed(confirm.text)
        action = next(f for f in form.forms if f.endswith("/resolve"))
        forged = client.post(action, data={"csrf": "forged", "note": "x"})
        assert forged.status_code == 403
        done = client.post(action, data={"csrf": form.csrf[-1],
                                         "note": "moderation back; fail_open turned off"})
        assert done.status_code == 303
        shown = client.get(done.headers["location"]).text
        assert f"Incident {incident_id}: resolution recorded." in shown
        assert "resolved by admin" in shown and "fail_open turned off" in shown
        assert "No open incident in 7 days." in client.get("/admin/").text
        empty = client.post(action, data={"csrf": form.csrf[-1], "note": ""})
        assert empty.status_code == 400  # said in the page, no stack trace


# --- real processes: `goodstanding serve --workers 2` ------------------------------------


@pytest.fixture
def two_workers(tmp_path: Path, sim: Any) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOODSTANDING_")}
    env |= {"OPENAI_API_KEY": "sk-test", "GOODSTANDING_SECRET": "s" * 32,
            "GOODSTANDING_ADMIN_TOKEN": ROOT, "NO_PROXY": "127.0.0.1,localhost",
            "GOODSTANDING_UPSTREAM_URL": f"{sim.url}/v1",
            "GOODSTANDING_DATABASE_URL": f"sqlite:///{tmp_path}/gs.db"}
    server = subprocess.Popen(
        [sys.executable, "-m", "goodstanding.cli", "serve", "--port", str(port), "--workers",
         "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", server)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(15)


def test_sign_out_reaches_every_worker_of_serve(two_workers):
    url = two_workers
    with httpx.Client(base_url=url, timeout=20) as client:
        page = client.get("/admin/login")
        csrf = parsed(page.text).csrf[0]
        assert client.post("/admin/login", data={"csrf": csrf, "token": ROOT}
                           ).status_code == 303
        stolen = cookie_of(client)
        # fresh connections spread over both workers' sockets: every one accepts the cookie
        assert [replay(url, stolen) for _ in range(12)] == [200] * 12
        assert logout(client).status_code == 303
    # ... and after the sign-out, handled by one worker, every one refuses it
    assert [replay(url, stolen) for _ in range(12)] == [303] * 12
