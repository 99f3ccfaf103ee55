"""A banned end user is one end user, however it is spelled (issue 10).

The canonical id (property tests), then a real gateway: every spelling of a banned id is
refused through ``safety_identifier``, ``user`` and ``X-End-User``; every spelling is one end
user for limits, strikes and the safety identifier; header values are UTF-8; ids stored before
canonicalisation are rewritten by migration 0005 on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import unicodedata
from typing import Any
from urllib.parse import urlsplit

import openai
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from goodstanding.cli import main
from goodstanding.endusers.identity import (
    _IGNORABLE,
    MAX_END_USER_CHARS,
    MAX_SENT_CHARS,
    canonical_end_user,
    safety_identifier,
)
from goodstanding.stores import open_store, schema

MODEL = "gpt-4o-mini"
HELLO = [{"role": "user", "content": "hello there"}]
BANNED = "José Alice"
CANONICAL = "josé alice"
SPELLINGS = {
    "as banned": BANNED,
    "lower case": "josé alice",
    "upper case": "JOSÉ ALICE",
    "leading and trailing spaces": "  José Alice  ",
    "a trailing newline": "José Alice\n",
    "NFD": unicodedata.normalize("NFD", BANNED),
    "full-width": "Ｊｏｓé\u3000Ａｌｉｃｅ",
    "full-width NFD": unicodedata.normalize("NFD", "ＪＯＳÉ ＡＬＩＣＥ"),
    "a zero-width space": "José\u200b Alice",
    "two spaces": "José  Alice",
    "a tab": "José\tAlice",
    "a BOM and a soft hyphen": "\ufeffJo\u00adsé Alice",
    "a zero-width joiner": "Jos\u200dé Alice",
    "bidi controls": "\u202eJosé Alice\u202c",
    "a NUL byte": "José Alice\x00",
    "a no-break space": "José\u00a0Alice",
    "a variation selector": "José\ufe0f Alice",
    "a blank Braille cell for the space": "José\u2800Alice",
    "a Turkish capital dotted I": "JOSÉ ALİCE",
}
# HTTP cannot carry a newline or a NUL in a header value
HEADER_SPELLINGS = {k: v for k, v in SPELLINGS.items() if not {"\n", "\x00"} & set(v)}
OTHERS = ("Jose Alice", "José Alicia", "José Alice 2")  # not the same end user


# --- the canonical id ----------------------------------------------------------------------

@pytest.mark.parametrize("name", SPELLINGS)
def test_every_spelling_has_one_canonical_id(name):
    assert canonical_end_user(SPELLINGS[name]) == CANONICAL


@pytest.mark.parametrize("other", OTHERS)
def test_different_ids_stay_different(other):
    assert canonical_end_user(other) != CANONICAL


@pytest.mark.parametrize(("value", "expected"), [
    ("Alice@Example.COM", "alice@example.com"), ("Straße", "strasse"), ("\u200b", ""),
    (" \t\n ", ""), ("ﬁle", "file"), ("①②", "12"), ("ＡＢＣ", "abc"), ("a\u2028b", "a b"),
])
def test_canonical_examples(value, expected):
    assert canonical_end_user(value) == expected


def test_length_is_bounded_after_canonicalisation_and_as_sent():
    assert len(canonical_end_user("a" * MAX_END_USER_CHARS)) == MAX_END_USER_CHARS
    with pytest.raises(ValueError):
        canonical_end_user("a" * (MAX_END_USER_CHARS + 1))
    with pytest.raises(ValueError):  # ß folds to ss: over the limit once canonical
        canonical_end_user("ß" * (MAX_END_USER_CHARS // 2 + 1))
    assert canonical_end_user("\u200b" * 700 + "bob") == "bob"
    with pytest.raises(ValueError):  # no Unicode work is spent on a huge value
        canonical_end_user("\u200b" * MAX_SENT_CHARS + "bob")


def _invisible(char: str) -> bool:
    return (unicodedata.category(char) in ("Cc", "Cf", "Cs") and not char.isspace()) or \
        ord(char) in _IGNORABLE


@given(st.text(max_size=400))
def test_canonical_is_idempotent_bounded_and_clean(value):
    try:
        text = canonical_end_user(value)
    except ValueError:
        return
    assert canonical_end_user(text) == text
    assert len(text) <= MAX_END_USER_CHARS
    assert text == text.strip() and "  " not in text
    assert not any(c.isspace() and c != " " for c in text)
    assert not any(_invisible(c) for c in text)
    assert unicodedata.is_normalized("NFKC", text)


_LETTERS = ("abcdefghijklmnopqrstuvwxyz0123456789àáâãäåçèéêëìíîïñòóôõöùúûüýÿ"
            "αβγδεζηθικλμνξοπρστυφχψωабвгдежзийклмнопрстуфхцчшщъыьэюя@._-")
_INVISIBLES = ("\u200b", "\u200c", "\u200d", "\ufeff", "\u00ad", "\u202e", "\u200e", "\u2060",
               "\ufe0f", "\x00", "\x07", "\u034f", "\U000e0041")
_SPACES = (" ", "  ", "\t", "\n", "\u00a0", "\u2003", "\u3000", " \r\n ")
_FULL_WIDTH = {c: chr(ord(c) + 0xFEE0) for c in map(chr, range(0x21, 0x7F))}


@st.composite
def spelled(draw: Any) -> tuple[str, str]:
    """An id and another spelling of it (case, form, width, invisibles, whitespace)."""
    words = draw(st.lists(st.text(_LETTERS, min_size=1, max_size=12), min_size=1, max_size=4))
    base = " ".join(words)
    variant = words
    if draw(st.booleans()):
        variant = [w.upper() for w in variant]
    if draw(st.booleans()):
        variant = [unicodedata.normalize("NFD", w) for w in variant]
    if draw(st.booleans()):
        variant = ["".join(_FULL_WIDTH.get(c, c) for c in w) for w in variant]
    joined = "".join(w + draw(st.sampled_from(_SPACES)) for w in variant)
    chars = list(draw(st.sampled_from(_SPACES)) + joined)
    for _ in range(draw(st.integers(0, 4))):
        chars.insert(draw(st.integers(0, len(chars))), draw(st.sampled_from(_INVISIBLES)))
    return base, "".join(chars)


@given(spelled())
def test_every_spelling_of_an_id_is_the_same_end_user(pair):
    base, variant = pair
    assert canonical_end_user(variant) == canonical_end_user(base)


# --- through a real gateway ----------------------------------------------------------------

@pytest.fixture
def gw(start_gateway):
    # these tests are about ids, not store timeouts: a store bound a loaded CI machine keeps
    return start_gateway(GOODSTANDING_STORAGE__TIMEOUT="5")


@pytest.fixture
def users(gw, monkeypatch, capsys):
    """`goodstanding users …` on the gateway's database (the operator's commands)."""
    monkeypatch.setenv("GOODSTANDING_DATABASE_URL", gw.db_url)
    gw.gateway.enforcer.cache.ttl = 0  # CLI changes are seen at once

    def run(*argv: str) -> tuple[int, str]:
        code = main(["users", *argv])
        return code, capsys.readouterr().out

    return run


def chat_as(gw, field: str, end_user: str) -> str:
    """'served', or the error code of the refusal."""
    try:
        if field == "header":
            # the SDK (httpx) only sends ASCII header values; an application's server sends
            # the UTF-8 bytes, as here, byte for byte
            status, document = raw_request(gw.url, gw.token,
                                           b"X-End-User: " + end_user.encode() + b"\r\n")
            return "served" if status == 200 else document["error"]["code"]
        gw.client().chat.completions.create(model=MODEL, messages=HELLO, **{field: end_user})
    except openai.APIStatusError as error:
        return str(error.code)
    return "served"


@pytest.mark.parametrize("field", ["safety_identifier", "user", "header"])
def test_a_banned_end_user_is_refused_in_every_spelling(gw, sim, users, field):
    assert users("ban", BANNED, "--by", "ops")[0] == 0
    spellings = HEADER_SPELLINGS if field == "header" else SPELLINGS
    outcomes = {name: chat_as(gw, field, value) for name, value in spellings.items()}
    assert outcomes == {name: "end_user_banned" for name in spellings}
    assert sim.calls["/v1/chat/completions"] == 0
    assert {other: chat_as(gw, field, other) for other in OTHERS} == \
        {other: "served" for other in OTHERS}


def test_an_ascii_id_through_the_sdks_header(gw, sim, users):
    assert users("ban", "  Bob   SMITH ", "--by", "ops")[0] == 0
    for spelling in ("bob smith", "BOB SMITH", "Bob \t Smith", "bOB   smitH"):
        client = gw.client(default_headers={"X-End-User": spelling})
        with pytest.raises(openai.PermissionDeniedError) as caught:
            client.chat.completions.create(model=MODEL, messages=HELLO)
        assert caught.value.code == "end_user_banned"
    assert sim.calls["/v1/chat/completions"] == 0


def test_the_cli_names_the_canonical_end_user(gw, users):
    code, out = users("ban", "ＪＯＳÉ\u200b  ALICE ", "--by", "ops", "--json")
    assert code == 0 and json.loads(out)["end_user"] == CANONICAL
    code, out = users("show", "José Alice", "--json")
    assert code == 0 and json.loads(out)["status"] == "banned"
    assert users("unban", "JOSÉ ALICE", "--by", "ops")[0] == 0
    assert chat_as(gw, "safety_identifier", BANNED) == "served"
    assert users("show", "\u200b")[0] == 2  # empty once canonicalised
    assert users("ban", "x" * 300)[0] == 2


def test_all_spellings_are_one_end_user_for_limits_strikes_and_the_identifier(
        start_gateway, sim, monkeypatch, capsys):
    gw = start_gateway(GOODSTANDING_LIMITS__END_USER__RPM="3")
    monkeypatch.setenv("GOODSTANDING_DATABASE_URL", gw.db_url)
    client = gw.client()
    client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="José Alice")
    client.chat.completions.create(model=MODEL, messages=HELLO, user="JOSÉ  ALICE")
    with pytest.raises(openai.BadRequestError):  # a strike, counted for the canonical id
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "x [[fault:cyber_policy]]"}],
            safety_identifier=unicodedata.normalize("NFD", "josé alice\u200b"))
    with pytest.raises(openai.RateLimitError) as caught:  # the 4th call of one end user
        client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="josé alice")
    assert "end-user requests per minute" in caught.value.message
    sids = {r["body"]["safety_identifier"] for r in sim.requests
            if r["path"] == "/v1/chat/completions"}
    expected = safety_identifier(gw.settings.identity.secret.encode(), "test-app", CANONICAL)
    assert sids == {expected}
    assert main(["users", "show", "Jose\u0301 Alice", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["strikes_counting"] == 1
    assert main(["users", "lookup", expected, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["end_user"] == CANONICAL
    time.sleep(0.3)
    assert {r["end_user"] for r in gw.store_call("query_audit")} == {CANONICAL}


@pytest.mark.parametrize(("body", "headers", "param"), [
    ({"safety_identifier": "a" * 257}, {}, "safety_identifier"),
    ({"user": "ß" * 200}, {}, "user"),
    ({"user": 42}, {}, "user"),
    ({"safety_identifier": ["alice"]}, {}, "safety_identifier"),
    ({}, {"X-End-User": "b" * 300}, "X-End-User"),
])
def test_an_unusable_end_user_id_is_a_400_naming_its_field(gw, sim, body, headers, param):
    client = gw.client(default_headers=headers)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=HELLO, extra_body=body)
    assert (caught.value.code, caught.value.param) == ("invalid_request", param)
    assert sim.calls["/v1/chat/completions"] == 0


def test_an_id_empty_once_canonicalised_counts_as_absent(gw, sim):
    client = gw.client()
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=HELLO,
                                       safety_identifier="\u200b\ufeff \n")
    assert caught.value.code == "end_user_required"
    # the next source in SPEC order is used instead
    client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="\u200b",
                                   user="Bob")
    time.sleep(0.3)
    assert [r["end_user"] for r in gw.store_call("query_audit", decision="allowed")] == ["bob"]


# --- header values are UTF-8 -----------------------------------------------------------------

def raw_request(url: str, token: str, extra: bytes) -> tuple[int, dict[str, Any]]:
    """One request written byte by byte on a socket: what any HTTP client may send."""
    parts = urlsplit(url)
    body = json.dumps({"model": MODEL, "messages": HELLO}).encode()
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\n"
            b"Content-Type: application/json\r\nConnection: close\r\n" + extra +
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, json.loads(data.split(b"\r\n\r\n", 1)[1])


def test_a_utf8_end_user_header_is_read_as_utf8(gw, sim, users):
    status, _ = raw_request(gw.url, gw.token, "X-End-User: José Alice\r\n".encode())
    assert status == 200
    time.sleep(0.3)
    assert [r["end_user"] for r in gw.store_call("query_audit")] == [CANONICAL]
    users("ban", "josé alice", "--by", "ops")
    status, document = raw_request(gw.url, gw.token, "X-End-User: JOSÉ ALICE\r\n".encode())
    assert (status, document["error"]["code"]) == (403, "end_user_banned")


@pytest.mark.parametrize("value", [b"Jos\xe9 Alice", b"\xff\xfe", b"ok\xc3"])
def test_a_header_value_that_is_not_utf8_is_a_400(gw, sim, value):
    status, document = raw_request(gw.url, gw.token, b"X-End-User: " + value + b"\r\n")
    assert status == 400
    error = document["error"]
    assert (error["code"], error["param"]) == ("invalid_request", "x-end-user")
    assert sim.calls["/v1/chat/completions"] == 0
    [row] = gw.store_call("query_audit", decision="refused")  # refusals are written at once
    assert row["reasons"] == ["header_not_utf8"]
    # any header, not only the identity ones
    status, _ = raw_request(gw.url, gw.token, b"X-Note: " + value + b"\r\nX-End-User: a\r\n")
    assert status == 400
    # and the gateway goes on serving
    assert raw_request(gw.url, gw.token, b"X-End-User: bob\r\n")[0] == 200


# --- ids stored before canonicalisation --------------------------------------------------------

def _to_0002(connection: Any) -> None:
    from alembic import command
    from alembic.config import Config

    from goodstanding.migrations import HERE

    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    command.upgrade(config, "0002")


async def _seed_before_canonicalisation(url: str) -> None:
    store = open_store(url)
    try:
        async with store.engine.begin() as conn:
            await conn.run_sync(_to_0002)
            rows = [  # three spellings of one user: banned wins, whatever the order
                ("José Alice", "active", None, 30.0), ("JOSÉ ALICE", "banned", None, 10.0),
                (" josé  alice", "suspended", 4e9, 20.0), ("carol", "suspended", 4e9, 5.0),
                ("Dave", "active", None, 1.0),
            ]
            await conn.execute(sa.insert(schema.end_users), [
                {"tenant": "app", "end_user": u, "status": s, "until": until, "reason": None,
                 "updated_at": at, "forgiven_at": None} for u, s, until, at in rows])
            await conn.execute(sa.insert(schema.strikes), [
                {"tenant": "app", "end_user": u, "ts": ts, "reason": "r", "categories": [],
                 "source": "request", "request_id": None}
                for u, ts in (("José Alice", 1.0), ("JOSÉ ALICE", 2.0), ("Dave", 3.0))])
            await conn.execute(sa.insert(schema.enforcement_actions), [
                {"tenant": "app", "end_user": "JOSÉ ALICE", "ts": 2.0, "action": "ban",
                 "by": "ops", "reason": None, "until": None}])
            await conn.execute(sa.insert(schema.identities), [
                {"safety_identifier": "a" * 64, "tenant": "app", "end_user": "José Alice",
                 "first_seen": 1.0},
                {"safety_identifier": "b" * 64, "tenant": "app", "end_user": "JOSÉ ALICE",
                 "first_seen": 2.0}])
        await store.migrate()  # 0005 and anything else up to head
        standings = {s.end_user: s.status for s in await store.list_standings(tenant="app")}
        assert standings == {CANONICAL: "banned", "carol": "suspended", "dave": "active"}
        assert [s.ts for s in await store.strikes_of("app", CANONICAL)] == [1.0, 2.0]
        assert [s.ts for s in await store.strikes_of("app", "dave")] == [3.0]
        assert [a.action for a in await store.actions_of("app", CANONICAL)] == ["ban"]
        for sid in ("a" * 64, "b" * 64):
            identity = await store.lookup_identity(sid)
            assert identity is not None and identity.end_user == CANONICAL
    finally:
        await store.close()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql",
                                                            marks=pytest.mark.postgres)])
def test_migration_0005_rewrites_stored_ids_to_their_canonical_form(backend, tmp_path):
    if backend == "sqlite":
        asyncio.run(_seed_before_canonicalisation(f"sqlite:///{tmp_path / 'old.db'}"))
        return
    from tests.services import postgres_database

    with postgres_database() as url:
        asyncio.run(_seed_before_canonicalisation(url))


def _to(revision: str) -> Any:
    def upgrade(connection: Any) -> None:
        from alembic import command
        from alembic.config import Config

        from goodstanding.migrations import HERE

        config = Config()
        config.set_main_option("script_location", str(HERE))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return upgrade


async def _seed_before_the_turkish_and_braille_rules(url: str) -> None:
    store = open_store(url)
    try:
        async with store.engine.begin() as conn:
            await conn.run_sync(_to("0011"))
            # what the rules of 0005..0011 stored for "JOSÉ ALİCE" and "José\u2800Alice"
            await conn.execute(sa.insert(schema.end_users), [
                {"tenant": "app", "end_user": u, "status": s, "until": until, "reason": None,
                 "updated_at": at, "forgiven_at": None}
                for u, s, until, at in (("josé ali\u0307ce", "banned", None, 1.0),
                                        ("bob\u2800smith", "suspended", 4e9, 2.0),
                                        ("bob smith", "active", None, 3.0))])
        await store.migrate()  # 0012
        standings = {s.end_user: s.status for s in await store.list_standings(tenant="app")}
        assert standings == {CANONICAL: "banned", "bob smith": "suspended"}
    finally:
        await store.close()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql",
                                                            marks=pytest.mark.postgres)])
def test_migration_0012_folds_ids_stored_before_the_turkish_i_and_braille_blank_rules(
        backend, tmp_path):
    if backend == "sqlite":
        asyncio.run(_seed_before_the_turkish_and_braille_rules(f"sqlite:///{tmp_path / 'o.db'}"))
        return
    from tests.services import postgres_database

    with postgres_database() as url:
        asyncio.run(_seed_before_the_turkish_and_braille_rules(url))


# --- OpenAI's webhooks name the canonical end user -------------------------------------------

def test_a_webhook_naming_an_identifier_of_an_old_spelling_bans_the_canonical_end_user(
        start_gateway, sim):
    from goodstanding.stores.base import Identity
    from tests.test_webhooks import SECRET, blocked, delivery, post

    gw = start_gateway(OPENAI_WEBHOOK_SECRET=SECRET)
    gw.gateway.enforcer.cache.ttl = 0
    # an identifier computed by an older version over the id as the application spelled it
    old_sid = safety_identifier(gw.settings.identity.secret.encode(), "test-app", BANNED)
    gw.store_call("remember_identities", [Identity(old_sid, "test-app", BANNED, 1.0)])
    response = post(gw, *delivery(blocked(old_sid)))
    assert response.status_code == 200 and response.json()["outcome"] == "acted"
    assert chat_as(gw, "safety_identifier", "JOSÉ ALICE") == "end_user_banned"
    assert gw.store_call("get_standing", "test-app", CANONICAL).status == "banned"


def test_a_webhook_header_that_is_not_utf8_is_a_recorded_400(start_gateway, sim):
    from tests.test_webhooks import SECRET

    gw = start_gateway(OPENAI_WEBHOOK_SECRET=SECRET)
    parts = urlsplit(gw.url)
    request = (b"POST /webhooks/openai HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n"
               b"webhook-id: wh_\xff\r\nContent-Length: 2\r\n\r\n{}")
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400")
    error = json.loads(data.split(b"\r\n\r\n", 1)[1])["error"]
    assert (error["code"], error["param"]) == ("invalid_request", "webhook-id")
    [row] = gw.store_call("query_audit", decision="refused")
    assert row["reasons"] == ["header_not_utf8"]


@pytest.mark.parametrize("signed_for", ["VIP Alice", "vip alice"])
def test_a_tier_claim_signed_for_the_id_as_sent_or_canonical_is_honoured(start_gateway, sim,
                                                                         signed_for):
    from goodstanding.limits.tiers import sign_claim

    gw = start_gateway(GOODSTANDING_LIMITS__END_USER__RPM="1",
                       GOODSTANDING_LIMITS__TIER_SECRET="tier-secret")
    claim = sign_claim("tier-secret", signed_for, "verified", int(time.time()) + 600)
    client = gw.client(default_headers={"X-Goodstanding-Tier": claim})
    for _ in range(3):  # verified: 3 × the anonymous limit of 1
        client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="VIP Alice")
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="VIP Alice")
    time.sleep(0.3)
    assert all("tier_claim_invalid" not in r["reasons"] for r in gw.store_call("query_audit"))
