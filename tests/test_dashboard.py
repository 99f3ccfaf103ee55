"""The dashboard at /admin/ through a real gateway, as a browser without script would use it
(httpx, following the forms): sign-in, cookie flags, CSRF on every POST, pages that show the
scenario, a ban by form that the next SDK call feels, keys created / rotated / revoked with the
secret shown once, sign-out. tests/test_dashboard_browser.py does the same in Chromium."""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser
from typing import Any

import httpx
import openai
import pytest

MODEL = "gpt-4o-mini"
HELLO: Any = [{"role": "user", "content": "hello there"}]
VIOLENT: Any = [{"role": "user", "content": "[[flag:violence]] the secret marker text"}]
ROOT = "dash-root-token-0123456789abcdef"


@pytest.fixture
def board_gw(start_gateway):
    return start_gateway(GOODSTANDING_ADMIN_TOKEN=ROOT)


def scenario(gw: Any) -> None:
    client = gw.client()
    client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="alice")
    client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="bob")
    for _ in range(3):
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model=MODEL, messages=VIOLENT,
                                           safety_identifier="mallory")
    time.sleep(0.3)  # the audit writer's flush


class Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.csrf: list[str] = []
        self.links: list[str] = []
        self.forms: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "input" and a.get("name") == "csrf":
            self.csrf.append(a.get("value") or "")
        if tag == "a" and a.get("href"):
            self.links.append(a["href"] or "")
        if tag == "form" and a.get("method") == "post":
            self.forms.append(a.get("action") or "")


def parsed(html: str) -> Forms:
    forms = Forms()
    forms.feed(html)
    return forms


def browser(gw: Any) -> httpx.Client:
    return httpx.Client(base_url=gw.url, timeout=20)


def sign_in(client: httpx.Client, token: str = ROOT) -> httpx.Response:
    page = client.get("/admin/login")
    assert page.status_code == 200
    csrf = parsed(page.text).csrf[0]
    return client.post("/admin/login", data={"csrf": csrf, "token": token})


def test_no_dashboard_without_an_admin_token(gw):
    assert httpx.get(f"{gw.url}/admin/").status_code == 404


def test_sign_in_sets_a_strict_httponly_cookie_and_pages_need_it(board_gw):
    with browser(board_gw) as client:
        assert client.get("/admin/").status_code == 303  # to the sign-in page
        wrong = sign_in(client, "not-the-token")
        assert wrong.status_code == 401
        answer = sign_in(client)
        assert answer.status_code == 303 and answer.headers["location"] == "/admin/"
        cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie"
                  and v.startswith("gs_admin="))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/admin" in cookie
        assert ROOT not in cookie
        page = client.get("/admin/")
        assert page.status_code == 200 and "Standing score" in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
        assert "<script" not in page.text


def test_the_sign_in_form_needs_its_own_csrf_value(board_gw):
    with browser(board_gw) as client:
        client.get("/admin/login")
        assert client.post("/admin/login", data={"csrf": "forged", "token": ROOT}
                           ).status_code == 403
    # a forged cross-site post has no login cookie at all
    assert httpx.post(f"{board_gw.url}/admin/login", data={"csrf": "x", "token": ROOT}
                      ).status_code == 403


def test_an_end_user_whose_id_has_a_slash_is_shown_and_banned(board_gw):
    board_gw.client().chat.completions.create(model=MODEL, messages=HELLO,
                                              safety_identifier="team/7")
    with browser(board_gw) as client:
        sign_in(client)
        listed = client.get("/admin/users", params={"q": "team"})
        link = next(link for link in parsed(listed.text).links if "team%2F7" in link)
        detail = client.get(link.replace("&amp;", "&"))
        assert detail.status_code == 200 and "id='status'>active" in detail.text
        confirm_link = next(link for link in parsed(detail.text).links if "action=ban" in link)
        form = parsed(client.get(confirm_link.replace("&amp;", "&")).text)
        action = next(f for f in form.forms if "/ban" in f)
        done = client.post(action, data={"csrf": form.csrf[-1], "reason": "spam by test"})
        assert done.status_code == 303
        assert "id='status'>banned" in client.get(done.headers["location"]).text
    with pytest.raises(openai.PermissionDeniedError):
        board_gw.client().chat.completions.create(model=MODEL, messages=HELLO,
                                                  safety_identifier="team/7")


def test_a_ban_by_form_takes_effect_on_the_next_call_and_every_post_needs_csrf(board_gw):
    scenario(board_gw)
    with browser(board_gw) as client:
        sign_in(client)
        overview = client.get("/admin/")
        assert "class='bar'" in overview.text and "mallory" in overview.text
        assert re.search(r"default: <strong>\d+ %</strong> of the moderation rate limit free",
                         overview.text)  # the moderation budget's headroom
        suspended = client.get("/admin/users", params={"status": "suspended"})
        assert "mallory" in suspended.text and "alice" not in suspended.text
        searched = client.get("/admin/users", params={"q": "ali"})
        assert "alice" in searched.text and "bob" not in searched.text
        detail = client.get("/admin/users/bob")
        assert detail.status_code == 200
        confirm_link = next(link for link in parsed(detail.text).links if "action=ban" in link)
        confirm = client.get(confirm_link.replace("&amp;", "&"))
        form = parsed(confirm.text)
        action = next(f for f in form.forms if "/ban" in f)
        forged = client.post(action, data={"csrf": "forged", "reason": "spam"})
        assert forged.status_code == 403
        assert client.get("/admin/users/bob").text.count("id='status'>active") == 1
        done = client.post(action, data={"csrf": form.csrf[-1], "reason": "spam by test"})
        assert done.status_code == 303
        page = client.get(done.headers["location"])
        assert "id='status'>banned" in page.text and "spam by test" in page.text
        assert "admin" in page.text  # who did it: the admin token's name
        assert "secret marker" not in client.get("/admin/users/mallory").text
    with pytest.raises(openai.PermissionDeniedError):
        board_gw.client().chat.completions.create(model=MODEL, messages=HELLO,
                                                  safety_identifier="bob")


def test_keys_created_once_shown_rotated_and_revoked(board_gw):
    with browser(board_gw) as client:
        sign_in(client)
        keys = client.get("/admin/keys")
        csrf = parsed(keys.text).csrf[-1]
        created = client.post("/admin/keys", data={"csrf": csrf, "name": "web", "rpm": "60"})
        assert created.status_code == 200
        secret = re.search(r"id='secret'>([^<]+)<", created.text).group(1)
        listing = client.get("/admin/keys").text
        assert "web" in listing and secret not in listing
        key = openai.OpenAI(base_url=f"{board_gw.url}/v1", api_key=secret, max_retries=0)
        key.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="carol")
        key_id = re.search(r"Id ([^,]+),", created.text).group(1)
        confirm = client.get(f"/admin/keys/{key_id}/confirm", params={"action": "revoke"})
        form = parsed(confirm.text)
        assert client.post(form.forms[-1], data={"csrf": form.csrf[-1]}).status_code == 303
        with pytest.raises(openai.AuthenticationError):
            key.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="carol")
        rotate = client.get(f"/admin/keys/{board_gw.key_id}/confirm", params={"action": "rotate"})
        form = parsed(rotate.text)
        rotated = client.post(form.forms[-1], data={"csrf": form.csrf[-1], "grace": "1h"})
        assert rotated.status_code == 200 and "id='secret'>gs" in rotated.text


def test_logout_ends_the_session(board_gw):
    with browser(board_gw) as client:
        sign_in(client)
        page = client.get("/admin/alerts")
        assert page.status_code == 200
        csrf = parsed(page.text).csrf[0]
        stolen = client.cookies.get("gs_admin")
        answer = client.post("/admin/logout", data={"csrf": csrf})
        assert answer.status_code == 303
        assert client.get("/admin/").status_code == 303
    with httpx.Client(base_url=board_gw.url, cookies={"gs_admin": stolen}) as replay:
        assert replay.get("/admin/").status_code == 303  # the ended session is refused
