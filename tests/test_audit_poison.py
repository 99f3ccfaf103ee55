"""One odd request must not stop the audit log (issue 10), on SQLite and PostgreSQL.

Poison inputs (unusual methods, over-long or NUL-bearing values, odd unicode, impossible
numbers) are refused with a 4xx where they are malformed and bounded where they are not; the
calls after them are recorded promptly. A record the database still refuses is set aside in the
dead-letter table (or file) and counted, and the others land. Both databases store the same
bounded values.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import math
import secrets
import time
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goodstanding.audit import AuditLog, bound_record, to_record
from goodstanding.call import Call
from goodstanding.runner import serve_in_thread
from goodstanding.stores import open_store, schema
from goodstanding.stores.base import Identity
from goodstanding.stores.bounds import CUT, JSON_NODES, bounder
from tests.scale_helpers import get
from tests.services import PG_HOST, PG_PORT, postgres_database
from tests.tcp_proxy import forwarder

MODEL = "gpt-4o-mini"
HELLO: Any = [{"role": "user", "content": "a private question about herons 51d0"}]
BACKENDS = [pytest.param("sqlite", id="sqlite"),
            pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'gateway.db'}"
    else:
        with postgres_database() as url:
            yield url


def raw(url: str, method: str, path: str, body: bytes = b"",
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], dict[str, Any]]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path, body, headers or {})
        response = conn.getresponse()
        return (response.status, {k.lower(): v for k, v in response.getheaders()},
                json.loads(response.read()))
    finally:
        conn.close()


def records_of(gw: Any, request_ids: list[str], seconds: float = 3.0) -> dict[str, dict]:
    """The audit rows of these requests, waiting at most ``seconds`` for all of them."""
    deadline = time.monotonic() + seconds
    while True:
        rows = {r["request_id"]: r for r in gw.store_call("query_audit", limit=10_000)}
        if all(rid in rows for rid in request_ids) or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def ask(gw: Any, user: str, model: str = MODEL) -> str:
    """One normal chat call; its request id."""
    answer = gw.client().chat.completions.with_raw_response.create(
        model=model, messages=HELLO, safety_identifier=user)
    return answer.headers["x-request-id"]


def fits(row: dict[str, Any]) -> bool:
    """Whether every text value of a row fits its column and holds no NUL."""
    for column in schema.audit_events.columns:
        value = row[column.name]
        if isinstance(value, str):
            limit = getattr(column.type, "length", None)
            if "\x00" in value or (limit is not None and len(value) > limit):
                return False
    return True


# ---------------------------------------------------------------- through a real gateway


def test_poison_requests_then_normal_calls_are_all_recorded_promptly(start_gateway, database_url):
    gw = start_gateway(GOODSTANDING_DATABASE_URL=database_url)
    poison: list[str] = []
    # unauthenticated requests with methods longer than the 8-character column
    for method, path in (("UNSUBSCRIBE", "/v1/x"), ("MKCALENDAR", "/v1/chat/completions"),
                         ("PROPPATCH", "/v1/" + "p" * 3000)):
        started = time.monotonic()
        status, headers, body = raw(gw.url, method, path)
        assert 400 <= status < 500 and body["error"]["code"], (method, status, body)
        # a refusal waits for its record: an insert stuck on this one made it wait 10 s
        assert time.monotonic() - started < 2.0
        poison.append(headers["x-request-id"])
    # a body that is not JSON (a lone surrogate) and one with a huge number
    auth = {"authorization": f"Bearer {gw.token}", "content-type": "application/json"}
    status, headers, body = raw(gw.url, "POST", "/v1/chat/completions",
                                b'{"model": "x\\ud800", "messages": []}', auth)
    assert status == 400 and body["error"]["code"] == "invalid_request"
    poison.append(headers["x-request-id"])
    huge = {"model": MODEL, "messages": HELLO, "safety_identifier": "hugo", "max_tokens": 2**70}
    status, headers, body = raw(gw.url, "POST", "/v1/chat/completions",
                                json.dumps(huge).encode(), auth)
    assert status < 500, body
    poison.append(headers["x-request-id"])
    # odd but well-formed end users: served, their records bounded
    for user in ("ali\x00ce", "é" * 256, "u" * 300, "\U0001f600" * 64, "tab\tand\nnewline"):
        try:
            poison.append(ask(gw, user))
        except openai.APIStatusError as refused:  # end-user ids are identity's to judge;
            assert refused.status_code != 500     # the record is the audit log's
            poison.append(refused.request_id)
    normal = [ask(gw, f"normal-{n}") for n in range(5)]
    rows = records_of(gw, poison + normal)
    assert [rid for rid in poison + normal if rid not in rows] == []
    assert all(fits(rows[rid]) for rid in poison)
    assert rows[poison[0]]["method"] == "UNSUBSC" + CUT
    assert gw.store_call("dead_letters") == []  # bounded: nothing was refused


@pytest.mark.parametrize("model", [
    "m" * 300, "gpt-4o-mini\x00", "gpt-4o-mini\u200b", "gpt\n4o", {"name": MODEL}, 42,
])
def test_a_malformed_model_is_refused_with_400_naming_it(gw, model):
    with pytest.raises(openai.BadRequestError) as caught:
        gw.client().chat.completions.create(model=model, messages=HELLO,
                                            safety_identifier="mona")
    assert caught.value.code == "invalid_request" and caught.value.param == "model"
    assert "\x00" not in caught.value.message and "m" * 200 not in caught.value.message
    row = records_of(gw, [caught.value.request_id])[caught.value.request_id]
    assert row["status"] == 400 and row["reasons"] == ["invalid_request"]


def test_the_longest_printable_model_is_passed_through(gw, sim):
    name = "ft:" + "é" * 125  # the column's 128 characters exactly
    rid = ask(gw, "mona", model=name)
    chats = [r for r in sim.requests if r["path"] == "/v1/chat/completions"]
    assert chats[-1]["body"]["model"] == name
    assert records_of(gw, [rid])[rid]["model"] == name


async def _liar(scope: dict, receive: Any, send: Any) -> None:
    """An upstream that reports impossible usage, or an error with an impossible code."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if b"fail" in body:
        status, answer = 400, {"error": {"message": "no", "type": "x",
                                          "code": "odd\x00" + "c" * 5000}}
    else:
        status, answer = 200, {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": MODEL,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "fine"}}],
            "usage": {"prompt_tokens": 2**70, "completion_tokens": -(2**40),
                      "total_tokens": 1}}
    payload = json.dumps(answer).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": payload})


def test_impossible_numbers_and_codes_from_the_upstream_are_bounded(start_gateway, database_url):
    with serve_in_thread(_liar) as liar:
        gw = start_gateway(GOODSTANDING_DATABASE_URL=database_url,
                           GOODSTANDING_UPSTREAM_URL=f"{liar}/v1",
                           GOODSTANDING_MODERATION__INPUT="off",
                           GOODSTANDING_MODERATION__OUTPUT="off")
        served = ask(gw, "ursula")
        with pytest.raises(openai.BadRequestError) as caught:
            gw.client().chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "fail"}],
                safety_identifier="ulla")
        after = ask(gw, "uma")
        rows = records_of(gw, [served, caught.value.request_id, after])
    # not counts at all (2^70, negative): recorded as unknown, never charged to a limit
    assert rows[served]["tokens_in"] is None and rows[served]["tokens_out"] is None
    reason = rows[caught.value.request_id]["reasons"][0]
    assert reason.startswith("upstream:odd\ufffd") and len(reason) <= 256 and reason.endswith(CUT)
    assert after in rows and gw.store_call("dead_letters") == []


def _refuse(db_url: str, *statements: str) -> None:
    """Make the real database refuse some rows (a constraint or trigger), as an operator might."""

    async def go() -> None:
        store = open_store(db_url)
        try:
            async with store.engine.begin() as conn:  # type: ignore[attr-defined]
                for statement in statements:
                    await conn.exec_driver_sql(statement)
        finally:
            await store.close()

    asyncio.run(go())


def _poison_user(db_url: str) -> None:
    """Records of end user 'poison-user' are refused by a trigger (RAISE: SQLSTATE P0001)."""
    if db_url.startswith("sqlite"):
        _refuse(db_url, "CREATE TRIGGER refuse_poison BEFORE INSERT ON audit_events "
                        "WHEN NEW.end_user = 'poison-user' BEGIN SELECT RAISE(ABORT, 'no'); END")
    else:
        _refuse(db_url,
                "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.end_user = 'poison-user' THEN RAISE EXCEPTION 'no'; END IF; "
                "RETURN NEW; END $$",
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON audit_events FOR EACH ROW "
                "EXECUTE FUNCTION refuse_poison()")


def _refuse_dead_letters(db_url: str) -> None:
    if db_url.startswith("sqlite"):
        _refuse(db_url, "CREATE TRIGGER refuse_letters BEFORE INSERT ON audit_dead_letters "
                        "BEGIN SELECT RAISE(ABORT, 'no'); END")
    else:
        _refuse(db_url, "ALTER TABLE audit_dead_letters ADD CONSTRAINT refuse_letters "
                        "CHECK (false)")


def _dead_letter_count(gw: Any, destination: str) -> float:
    text = get(f"{gw.url}/metrics").body["text"]
    wanted = ('goodstanding_audit_dead_letters_total{kind="audit",'
              f'destination="{destination}"}} ')
    lines = [line for line in text.splitlines() if line.startswith(wanted)]
    return float(lines[0].split()[-1]) if lines else 0.0


def _concurrently(gw: Any, users: list[str]) -> list[str]:
    """Chat calls at once, so that their records share a batch."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(len(users)) as pool:
        return list(pool.map(lambda user: ask(gw, user), users))


def test_a_refused_record_is_set_aside_in_the_table_and_the_rest_land(
        start_gateway, database_url, caplog):
    gw = start_gateway(GOODSTANDING_DATABASE_URL=database_url, GOODSTANDING_LIMITS__END_USER__RPM="1")
    _poison_user(database_url)
    before = _dead_letter_count(gw, "table")
    users = [f"u{n}" for n in range(7)] + ["poison-user"] + [f"v{n}" for n in range(7)]
    rids = _concurrently(gw, users)
    poisoned = rids[users.index("poison-user")]
    rest = [rid for rid in rids if rid != poisoned]
    rows = records_of(gw, rest)
    assert [rid for rid in rest if rid not in rows] == [] and poisoned not in rows
    letters = gw.store_call("dead_letters")
    assert [(x["kind"], x["request_id"]) for x in letters] == [("audit", poisoned)]
    letter = letters[0]
    assert letter["record"]["end_user"] == "poison-user" and letter["ts"] > time.time() - 30
    assert letter["error"] in ("IntegrityError", "RaiseError (P0001)")
    assert "herons" not in json.dumps(letter)  # never the prompt
    assert _dead_letter_count(gw, "table") == before + 1
    assert any(poisoned in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    assert not any("herons" in r.getMessage() for r in caplog.records)
    # a refusal is answered once its record is durable: set aside counts, and comes at once
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError) as caught:  # her second call in the minute
        ask(gw, "poison-user")
    assert time.monotonic() - started < 2.0
    refused = caught.value.request_id
    assert refused in [x["request_id"] for x in gw.store_call("dead_letters")]
    later = ask(gw, "later")  # the log is not stuck
    assert later in records_of(gw, [later])


def test_when_the_table_refuses_too_the_record_goes_to_the_file(
        start_gateway, database_url, tmp_path):
    path = tmp_path / "letters" / "dead.jsonl"
    gw = start_gateway(GOODSTANDING_DATABASE_URL=database_url,
                       GOODSTANDING_STORAGE__AUDIT_DEAD_LETTER_PATH=str(path))
    _poison_user(database_url)
    _refuse_dead_letters(database_url)
    before = _dead_letter_count(gw, "file")  # the registry is per process, not per gateway
    poisoned = ask(gw, "poison-user")
    normal = ask(gw, "norma")
    assert normal in records_of(gw, [normal])
    deadline = time.monotonic() + 3
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(x["kind"], x["request_id"]) for x in lines] == [("audit", poisoned)]
    assert lines[0]["record"]["end_user"] == "poison-user" and "herons" not in path.read_text()
    assert path.stat().st_mode & 0o077 == 0  # end-user ids: the owner's only
    assert _dead_letter_count(gw, "file") == before + 1
    assert gw.store_call("dead_letters") == []


# ---------------------------------------------------------------- the writer on a real store


def _call(request_id: str, end_user: str | None = None) -> Call:
    call = Call(request_id, "POST", "/v1/chat/completions", "chat.completions", {}, "10.0.0.1")
    call.end_user = end_user
    return call


async def _writer(db_url: str, **kwargs: Any) -> tuple[Any, AuditLog]:
    store = open_store(db_url)
    await store.migrate()
    return store, AuditLog(store, batch_size=10_000, interval=3600, **kwargs)


async def test_one_poison_record_in_a_large_batch_costs_few_inserts(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    store, audit = await _writer(url, dead_letter_path=tmp_path / "dead.jsonl")
    inserts = 0
    write = store.write_audit

    async def counting(records: Any) -> None:
        nonlocal inserts
        inserts += 1
        await write(records)

    store.write_audit = counting
    try:
        async with store.engine.begin() as conn:
            await conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON audit_events WHEN NEW.end_user = 'p' "
                "BEGIN SELECT RAISE(ABORT, 'no'); END")
        for n in range(256):
            await audit.record(_call(f"req_{n}", "p" if n in (3, 200) else "ok"))
        await audit.flush()
        assert len(await store.query_audit(limit=1000)) == 254
        assert {x["request_id"] for x in await store.dead_letters()} == {"req_3", "req_200"}
        assert inserts <= 2 * 2 * 8 + 1  # halving, not one insert per record
    finally:
        await store.close()


async def test_a_refused_identity_mapping_is_set_aside_and_the_records_land(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    store, audit = await _writer(url, dead_letter_path=tmp_path / "dead.jsonl")
    try:
        async with store.engine.begin() as conn:
            await conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON identities WHEN NEW.end_user = 'p' "
                "BEGIN SELECT RAISE(ABORT, 'no'); END")
        for user in ("p", "q"):
            audit.remember_identity(Identity(f"sid-{user}", "t", user, 1.0))
            await audit.record(_call(f"req_{user}", user))
        await audit.flush()
        assert len(await store.query_audit()) == 2
        assert await store.lookup_identity("sid-q") is not None
        letters = await store.dead_letters()
        assert [(x["kind"], x["record"]["safety_identifier"]) for x in letters] == [
            ("identity", "sid-p")]
    finally:
        await store.close()


async def test_when_table_and_file_both_refuse_the_record_stays_queued(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    # a directory where the file should be: it cannot be opened for appending
    store, audit = await _writer(url, dead_letter_path=tmp_path, max_pending=1)
    try:
        async with store.engine.begin() as conn:
            await conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON audit_events WHEN NEW.end_user = 'p' "
                "BEGIN SELECT RAISE(ABORT, 'no'); END")
            await conn.exec_driver_sql(
                "CREATE TRIGGER refuse_letters BEFORE INSERT ON audit_dead_letters "
                "BEGIN SELECT RAISE(ABORT, 'no'); END")
        await audit.record(_call("req_ok", "ok"))
        await audit.record(_call("req_p", "p"))
        with pytest.raises(OSError):
            await audit.flush()
        assert [r["request_id"] for r in await store.query_audit()] == ["req_ok"]
        assert audit.backlogged  # kept (never dropped), so it counts against max_pending
    finally:
        await store.close()


@pytest.mark.postgres
def test_a_database_that_cannot_be_reached_keeps_records_and_sets_none_aside(tmp_path):
    with postgres_database() as direct, forwarder(PG_HOST, PG_PORT) as proxy:
        url = direct.replace(f":{PG_PORT}/", f":{proxy.port}/")
        asyncio.run(_cut_then_restore(url, proxy, tmp_path / "dead.jsonl"))


async def _cut_then_restore(url: str, proxy: Any, path: Path) -> None:
    store, audit = await _writer(url, dead_letter_path=path)
    try:
        proxy.cut()
        await audit.record(_call("req_kept", "kim"))
        with pytest.raises(Exception):  # noqa: B017 - whichever connection error
            await audit.flush()
        assert not path.exists()
        proxy.restore()
        for _ in range(50):
            try:
                await audit.flush()
                break
            except Exception:  # noqa: BLE001 - the pool reconnects
                await asyncio.sleep(0.1)
        assert [r["request_id"] for r in await store.query_audit()] == ["req_kept"]
        assert await store.dead_letters() == []
    finally:
        await store.close()


@pytest.mark.postgres
def test_a_missing_table_is_no_poison_record_and_the_records_are_kept(tmp_path):
    with postgres_database() as url:
        asyncio.run(_table_away_then_back(url, tmp_path / "dead.jsonl"))


async def _table_away_then_back(url: str, path: Path) -> None:
    store, audit = await _writer(url, dead_letter_path=path)
    try:
        async with store.engine.begin() as conn:
            await conn.exec_driver_sql("ALTER TABLE audit_events RENAME TO audit_events_away")
        await audit.record(_call("req_kept", "kim"))
        with pytest.raises(sa.exc.ProgrammingError):
            await audit.flush()
        assert await store.dead_letters() == [] and not path.exists()
        async with store.engine.begin() as conn:
            await conn.exec_driver_sql("ALTER TABLE audit_events_away RENAME TO audit_events")
        await audit.flush()
        assert [r["request_id"] for r in await store.query_audit()] == ["req_kept"]
    finally:
        await store.close()


# ---------------------------------------------------------------- bounded values, both backends


def test_every_audit_column_has_a_rule_and_a_type_without_one_stops_the_import():
    record = bound_record({})
    assert set(record) == set(schema.AUDIT_FIELDS)
    assert record["request_id"] == "" and record["reasons"] == [] and record["scores"] == {}
    table = sa.Table("t", sa.MetaData(), sa.Column("day", sa.Date))
    with pytest.raises(TypeError, match="t.day"):
        bounder(table, ("day",))


@pytest.mark.parametrize(("field", "value", "bounded"), [
    ("method", "UNSUBSCRIBE", "UNSUBSC" + CUT),
    ("model", "m" * 300, "m" * 127 + CUT),
    ("end_user", "a\x00b", "a\ufffdb"),
    ("end_user", "a\ud800b", "a\ufffdb"),
    ("end_user", "é" * 256, "é" * 256),
    ("country", 12, "12"),
    ("tokens_in", 2**70, 2**31 - 1),
    ("tokens_in", -(2**70), -(2**31)),
    ("tokens_in", 1.5e30, 2**31 - 1),
    ("tokens_in", "12", None),
    ("tokens_in", float("nan"), None),
    ("status", True, 1),
    ("latency_ms", float("inf"), None),
    ("latency_ms", 10**400, None),
    ("ts", None, 0.0),
    ("ts", float("nan"), 0.0),
    ("reasons", float("nan"), []),
    ("stream", None, False),
    ("decision", None, ""),
    ("reasons", None, []),
    ("reasons", ["x\x00", "r" * 1000], ["x\ufffd", "r" * 255 + CUT]),
    ("scores", {"a": float("nan"), "b": 2**70, 3: 0.5}, {"a": None, "b": 2**63 - 1, "3": 0.5}),
])
def test_a_value_is_bounded_by_its_column(field, value, bounded):
    assert bound_record({field: value})[field] == bounded


def test_json_values_are_bounded_in_size_and_depth():
    deep: Any = "leaf"
    for _ in range(50):
        deep = [deep]
    huge = bound_record({"scores": {f"k{n}": list(range(100)) for n in range(1000)}})["scores"]
    assert len(orjson.dumps(huge)) < JSON_NODES * 300
    assert len(orjson.dumps(bound_record({"reasons": deep})["reasons"])) < 100


_json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=300),
    lambda inner: st.lists(inner, max_size=70) | st.dictionaries(st.text(), inner, max_size=70),
    max_leaves=80)


@settings(max_examples=300)
@given(st.one_of(_json_like, st.lists(st.text(max_size=300), max_size=70),
                 st.dictionaries(st.text(max_size=300), st.floats(), max_size=70)))
def test_the_fast_path_for_flat_reasons_and_scores_agrees_with_the_full_rules(value):
    from goodstanding.stores.bounds import JSON_DEPTH, _json, json_value

    assert orjson.dumps(json_value(value)) == orjson.dumps(_json(value, [JSON_NODES], JSON_DEPTH))


def test_schema_and_migrations_agree(tmp_path):
    """A column added to schema.py without its migration (or the reverse) fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    url = f"sqlite:///{tmp_path / 'm.db'}"
    asyncio.run(_migrate(url))
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    finally:
        engine.dispose()
    assert diff == []


async def _migrate(url: str) -> None:
    store = open_store(url)
    try:
        await store.migrate()
    finally:
        await store.close()


_texts = st.text(st.characters(codec=None, exclude_categories=()), max_size=300)
_numbers = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), _texts)
_records = st.fixed_dictionaries({
    "ts": _numbers,
    "request_id": _texts, "key_id": _texts, "tenant": _texts, "end_user": st.none() | _texts,
    "client_ip": _texts, "country": _texts, "method": _texts, "endpoint": _texts,
    "model": st.none() | _texts, "stream": _numbers, "status": _numbers, "tokens_in": _numbers,
    "tokens_out": _numbers, "decision": _texts, "reasons": st.lists(_texts, max_size=4),
    "scores": st.dictionaries(_texts, _numbers, max_size=4), "latency_ms": _numbers,
})


@pytest.mark.postgres
def test_sqlite_and_postgres_store_the_same_bounded_records(tmp_path):
    loop = asyncio.new_event_loop()
    with postgres_database() as pg_url:
        stores = [open_store(f"sqlite:///{tmp_path / 'r.db'}"), open_store(pg_url),
                  open_store("memory://")]
        try:
            for store in stores:
                loop.run_until_complete(store.migrate())

            @settings(max_examples=60, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
            @given(st.lists(_records, min_size=1, max_size=6))
            def round_trip(raws: list[dict[str, Any]]) -> None:
                bounded = [bound_record(r) for r in raws]
                stored = [loop.run_until_complete(_write_and_read(s, bounded)) for s in stores]
                assert _comparable(stored[0]) == _comparable(stored[1]) == _comparable(bounded)
                assert _comparable(stored[2]) == _comparable(bounded)

            round_trip()
        finally:
            for store in stores:
                loop.run_until_complete(store.close())
            loop.close()


@pytest.mark.postgres
def test_a_negative_zero_reads_back_the_same_from_both_backends(tmp_path):
    """SQLite read a REAL column's -0.0 back as 0.0 and PostgreSQL as -0.0 (and PostgreSQL's
    JSON kept it): the bounded record has no negative zero, so all three stores agree."""
    raw = {"ts": -0.0, "request_id": "r", "key_id": "k", "tenant": "t", "status": 200,
           "decision": "allowed", "reasons": [], "latency_ms": -0.0,
           "scores": {"violence": -0.0}}
    bounded = [bound_record(raw)]
    with postgres_database() as pg_url:
        stores = [open_store(f"sqlite:///{tmp_path / 'z.db'}"), open_store(pg_url),
                  open_store("memory://")]
        stored = [asyncio.run(_migrate_write_read(s, bounded)) for s in stores]
    assert {_comparable(rows) for rows in stored} == {_comparable(bounded)}
    row = stored[1][0]
    assert math.copysign(1, row["ts"]) == math.copysign(1, row["scores"]["violence"]) == 1


async def _migrate_write_read(store: Any, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    try:
        await store.migrate()
        return await _write_and_read(store, records)
    finally:
        await store.close()


async def _write_and_read(store: Any, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    await store.write_audit(records)
    rows = await store.query_audit(limit=len(records))
    return [{str(k): v for k, v in row.items() if k != "id"} for row in reversed(rows)]


def _comparable(rows: list[dict[str, Any]]) -> str:
    """Rows as canonical JSON (NaN is not equal to itself; bounded rows hold none anyway)."""
    for row in rows:
        for value in row.values():
            assert not (isinstance(value, float) and math.isnan(value))
    return orjson.dumps(rows, option=orjson.OPT_SORT_KEYS).decode()


def test_to_record_bounds_what_a_call_carries():
    call = _call("req_" + secrets.token_hex(40), "u\x00" * 200)
    call.method, call.model, call.tokens_in = "UNSUBSCRIBE", "m" * 500, 10**30
    record = to_record(call)
    assert len(record["request_id"]) == 64 and len(record["end_user"]) == 256
    assert record["method"] == "UNSUBSC" + CUT and record["tokens_in"] == 2**31 - 1
    assert fits({**record, "id": 1})
