"""A failing machine: a frozen or cut database path, and a gateway killed under load.

- A store that does not answer costs a call ``storage.timeout`` at most: 503
  ``store_unavailable`` (or the refusal it was anyway), never a hang, and calls are served and
  recorded again once the path is back, without a restart.
- A served call has its audit record before its answer's last byte leaves (in the audit
  journal, or committed): ``goodstanding serve`` SIGKILLed ten times under concurrent load
  leaves no answered call without a record once a gateway runs again on the same database.

The database (and Redis) paths go through ``tests/tcp_proxy.py``, which can freeze a path
(connections accepted, nothing answered) or cut it (connections dropped and refused).
Run alone: ``pytest tests/test_faults.py``.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import openai
import pytest

from goodstanding.stores import open_store
from goodstanding.stores.journal import Journal, folder_for
from tests.conftest import _make_key
from tests.scale_helpers import CLI, env_for, free_port, make_key, migrate, wait_healthy
from tests.services import PG_HOST, PG_PORT, postgres_database, redis_url
from tests.tcp_proxy import Forwarder, forwarder

MODEL = "gpt-4o-mini"
HELLO: Any = [{"role": "user", "content": "hello there"}]
TIMEOUT = 0.5  # storage.timeout, its default
MARGIN = 0.6  # scheduling on a busy test machine, the client's own work


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds taken, the result or the exception raised)."""
    start = time.monotonic()
    try:
        outcome: Any = call()
    except Exception as exc:  # noqa: BLE001 - the test looks at what was raised
        outcome = exc
    return time.monotonic() - start, outcome


def eventually(probe: Callable[[], Any], seconds: float = 15.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return probe()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def recorded(db_url: str) -> dict[str, dict[str, Any]]:
    """Every audit record in the database, by request id."""

    async def go() -> list[dict[str, Any]]:
        store = open_store(db_url)
        try:
            return await store.query_audit(limit=1_000_000)
        finally:
            await store.close()

    return {row["request_id"]: row for row in asyncio.run(go())}


def assert_store_unavailable(outcome: Any, seconds: float, bound: float = TIMEOUT) -> None:
    assert isinstance(outcome, openai.APIStatusError), outcome
    assert outcome.status_code == 503 and outcome.code == "store_unavailable", outcome
    assert seconds < bound + MARGIN, f"503 after {seconds:.2f}s"


@contextmanager
def gateway_through_proxy(start_gateway: Any) -> Iterator[tuple[Any, Forwarder, str]]:
    """A gateway whose PostgreSQL path goes through a forwarder; (gateway, forwarder, the
    database's direct URL)."""
    with postgres_database() as direct, forwarder(PG_HOST, PG_PORT) as proxy:
        url = direct.replace(f":{PG_PORT}/", f":{proxy.port}/")
        asyncio.run(_make_key(url))  # migrates, as `goodstanding migrate` would
        gw = start_gateway(GOODSTANDING_DATABASE_URL=url,
                           GOODSTANDING_STORAGE__TIMEOUT=str(TIMEOUT))
        yield gw, proxy, direct


def chat(client: openai.OpenAI, user: str | None, stream: bool = False) -> Any:
    extra = {"safety_identifier": user} if user else {}
    if not stream:
        return client.chat.completions.with_raw_response.create(
            model=MODEL, messages=HELLO, **extra)
    return list(client.chat.completions.create(model=MODEL, messages=HELLO, stream=True,
                                               **extra))


def responses_stream(gw: Any, user: str) -> bytes:
    """A streamed ``/v1/responses`` call's whole body, raw (the SDK hides the error event)."""
    host, port = gw.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("POST", "/v1/responses", json.dumps(
            {"model": MODEL, "input": "hello there", "stream": True, "safety_identifier": user}),
            {"authorization": f"Bearer {gw.token}", "content-type": "application/json"})
        response = conn.getresponse()
        assert response.status == 200, response.read()
        return response.read()
    finally:
        conn.close()


# --- a slow or vanished database: a fast answer, then recovery without restart -------------


@pytest.mark.postgres
@pytest.mark.parametrize("fault", ["freeze", "cut"])
def test_a_database_fault_costs_a_call_the_timeout_at_most(start_gateway, fault):
    with gateway_through_proxy(start_gateway) as (gw, proxy, direct):
        client = gw.client(timeout=30)
        known = "known-" + secrets.token_hex(4)

        @contextmanager
        def faulty() -> Iterator[None]:
            """The path fails while the known user's key and standing are cached (a few
            seconds): no read is needed to admit it."""
            eventually(lambda: chat(client, known))
            getattr(proxy, fault)()
            try:
                yield
            finally:
                proxy.restore()

        with faulty():  # served upstream, but its record cannot be committed: withheld
            seconds, outcome = timed(lambda: chat(client, known))
        assert_store_unavailable(outcome, seconds)
        withheld = outcome.request_id
        with faulty():  # streamed: instead of [DONE], an error event
            seconds, outcome = timed(lambda: chat(client, known, stream=True))
        assert isinstance(outcome, openai.APIError) and not isinstance(
            outcome, openai.APIStatusError), outcome
        assert outcome.body["code"] == "store_unavailable" and seconds < TIMEOUT + MARGIN
        with faulty():  # a Responses stream: the error event takes response.completed's place
            seconds, body = timed(lambda: responses_stream(gw, known))
        assert b"event: error" in body and b"store_unavailable" in body, body[-300:]
        assert b"response.completed" not in body and seconds < TIMEOUT + MARGIN
        with faulty():  # a new end user: its standing cannot be read
            seconds, outcome = timed(lambda: chat(client, "new-" + secrets.token_hex(4)))
        assert_store_unavailable(outcome, seconds)
        with faulty():  # a refusal is still the refusal, and waits no longer for its record
            seconds, outcome = timed(lambda: chat(client, None))
        assert isinstance(outcome, openai.BadRequestError) and seconds < TIMEOUT + MARGIN
        refused = outcome.request_id

        served = eventually(lambda: chat(client, "back-" + secrets.token_hex(4)))
        answered = served.headers["x-request-id"]
        rows = eventually(lambda: _all_there(direct, {answered, withheld, refused}))
        assert rows[answered]["decision"] == "allowed" and rows[refused]["status"] == 400
        if fault == "cut":  # the batch failed and was queued again: its record says withheld
            # (a frozen batch may still commit what it sent once the path thaws: audit.py)
            assert rows[withheld]["status"] == 503, rows[withheld]
            assert "store_unavailable:audit" in rows[withheld]["reasons"]


@pytest.mark.postgres
def test_a_strike_the_frozen_database_did_not_take_is_written_once_it_is_back(start_gateway):
    """A flagged prompt while the database is frozen is refused at once, and its strike is
    not lost: it is kept and written when the path is back (before: logged and dropped, so
    an end user whose prompts arrived while the database struggled was never suspended)."""
    with gateway_through_proxy(start_gateway) as (gw, proxy, direct):
        client = gw.client(timeout=30)
        user = "striker-" + secrets.token_hex(4)
        eventually(lambda: chat(client, user))  # its key and standing are cached
        tenant = asyncio.run(_read(direct, "get_key", gw.key_id)).tenant
        proxy.freeze()
        try:
            seconds, outcome = timed(lambda: client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "[[flag:violence]] hi"}],
                safety_identifier=user))
            assert isinstance(outcome, openai.BadRequestError), outcome
            assert outcome.code == "content_policy_violation" and seconds < TIMEOUT + MARGIN
            time.sleep(2 * TIMEOUT)  # a retry or two while still frozen
        finally:
            proxy.restore()

        def struck() -> list[Any]:
            strikes = asyncio.run(_read(direct, "strikes_of", tenant, user))
            assert len(strikes) == 1, strikes
            return strikes

        assert eventually(struck)[0].request_id == outcome.request_id
        row = eventually(lambda: _all_there(direct, {outcome.request_id}))[outcome.request_id]
        assert "strike_pending" in row["reasons"]
        time.sleep(1.5)  # written once, not once per retry round
        assert len(struck()) == 1


async def _read(db_url: str, method: str, *args: Any) -> Any:
    store = open_store(db_url)
    try:
        return await getattr(store, method)(*args)
    finally:
        await store.close()


def _all_there(db_url: str, request_ids: set[str]) -> dict[str, dict[str, Any]]:
    rows = recorded(db_url)
    assert request_ids <= rows.keys(), request_ids - rows.keys()
    return rows


@pytest.mark.postgres
def test_a_frozen_database_path_that_stays_frozen_keeps_every_call_fast(start_gateway):
    """Calls keep coming while the path stays frozen: none queues behind the stuck ones."""
    with gateway_through_proxy(start_gateway) as (gw, proxy, direct):
        proxy.freeze()
        results: list[tuple[float, Any]] = []

        def one(i: int) -> None:
            client = gw.client(timeout=30)
            results.append(timed(lambda: client.chat.completions.create(
                model=MODEL, messages=HELLO, safety_identifier=f"crowd-{i}")))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(24)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for seconds, outcome in results:
            # 24 clients and the gateway share this process: some slack for the scheduling,
            # still far below what a queue behind stuck connections would cost (pool 10 s)
            assert_store_unavailable(outcome, seconds, bound=TIMEOUT + 1.0)
        # the median: queued in series behind the stuck ones, it would be ~12 × the bound (6 s);
        # on a machine 2.5× slower than usual the 24 threads alone put it at 1.2 s once in CI
        assert sorted(seconds for seconds, _ in results)[12] < TIMEOUT + 1.0
        proxy.restore()
        client = gw.client(timeout=30)
        served = eventually(lambda: chat(client, "after-" + secrets.token_hex(4)))
        eventually(lambda: _all_there(direct, {served.headers["x-request-id"]}))


@pytest.mark.redis
@pytest.mark.parametrize("fault", ["freeze", "cut"])
def test_a_redis_fault_costs_a_call_the_timeout_at_most(start_gateway, fault):
    redis_url()  # skip (or fail under CI) without the service
    with forwarder("127.0.0.1", 6379) as proxy:
        gw = start_gateway(GOODSTANDING_REDIS_URL=f"redis://127.0.0.1:{proxy.port}/0",
                           GOODSTANDING_STORAGE__TIMEOUT=str(TIMEOUT))
        client = gw.client(timeout=30)
        user = "rhea-" + secrets.token_hex(4)
        chat(client, user)
        getattr(proxy, fault)()
        for _ in range(3):  # the counters' connection, then reconnecting to a frozen Redis
            seconds, outcome = timed(lambda: chat(client, user))
            # the counters' watchdog looks four times per timeout: 1.25 × timeout at most
            assert_store_unavailable(outcome, seconds, bound=1.25 * TIMEOUT)
        proxy.restore()
        assert eventually(lambda: chat(client, user))


# --- SIGKILL under load: every answered call has its record --------------------------------

KILLS = 10
CLIENTS = 12


class Load:
    """Clients calling a gateway until stopped; the request ids of the calls fully answered
    (a whole body, a Chat stream through ``[DONE]``, a Responses stream through
    ``response.completed``) — refusals included."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.answered: list[str] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(i,), daemon=True)
                        for i in range(CLIENTS)]

    def __enter__(self) -> Self:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(15)

    def _client(self, i: int) -> None:
        rng = random.Random(i)
        while not self.stop.is_set():
            kind = rng.choice(("plain", "plain", "stream", "stream", "responses", "refused"))
            try:
                rid = self._call(kind, f"kill-{i}-{rng.randrange(50)}")
            except (OSError, http.client.HTTPException):
                continue  # cut off by the kill, or refused a connection: not answered
            if rid:
                self.answered.append(rid)

    def _call(self, kind: str, user: str) -> str | None:
        body: dict[str, Any] = {"model": MODEL, "messages": HELLO}
        path = "/v1/chat/completions"
        if kind == "responses":  # streamed: ends with response.completed, not [DONE]
            body, path = {"model": MODEL, "input": "hello there", "stream": True}, "/v1/responses"
        if kind != "refused":
            body["safety_identifier"] = user
        if kind == "stream":
            body["stream"] = True
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("POST", path, json.dumps(body),
                         {"authorization": f"Bearer {self.token}",
                          "content-type": "application/json"})
            response = conn.getresponse()
            data = response.read()  # IncompleteRead when the gateway died mid-answer
            rid = response.getheader("x-request-id")
        finally:
            conn.close()
        if kind == "refused":
            return rid if response.status == 400 else None
        if response.status != 200:
            return None
        if kind == "stream":
            return rid if data.rstrip().endswith(b"data: [DONE]") else None
        if kind == "responses":
            return rid if b"event: response.completed" in data else None
        json.loads(data)
        return rid


def _serve(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)


def kill_under_load(db_url: str, upstream: str, tmp_path: Path) -> tuple[list[str], set[str]]:
    """``KILLS`` rounds of: start ``goodstanding serve`` on ``db_url``, load it, SIGKILL it
    while calls are in flight. The calls answered, and the request ids recorded."""
    env = env_for(db_url, "", upstream, secrets.token_hex(16),
                  GOODSTANDING_LIMITS__END_USER__RPM="100000",
                  GOODSTANDING_LIMITS__END_USER__RPD="1000000",
                  GOODSTANDING_STORAGE__AUDIT_FLUSH_INTERVAL="0.2",
                  # not under test, and loading them is most of a start-up
                  GOODSTANDING_DETECTORS__JAILBREAK="off", GOODSTANDING_DETECTORS__INJECTION="off",
                  GOODSTANDING_DETECTORS__CONTENT="off", GOODSTANDING_DETECTORS__OUTPUT="off")
    del env["GOODSTANDING_REDIS_URL"]
    assert migrate(env).returncode == 0
    token = make_key(db_url)
    answered: list[str] = []
    rng = random.Random(10)
    for _ in range(KILLS):
        port = free_port()
        process = _serve(env, port)
        try:
            wait_healthy(f"http://127.0.0.1:{port}", process)
            with Load(port, token) as load:
                time.sleep(rng.uniform(0.4, 1.0))
                process.send_signal(signal.SIGKILL)
                process.wait(10)
            answered += load.answered
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
    # started once more and stopped cleanly: what the last one journaled reaches the database
    port = free_port()
    process = _serve(env, port)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process)
    finally:
        process.terminate()
        assert process.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises it once done
    return answered, set(recorded(db_url))


def test_sigkill_under_load_loses_no_answered_call_on_sqlite(tmp_path, sim):
    answered, records = kill_under_load(f"sqlite:///{tmp_path / 'kill.db'}", sim.url, tmp_path)
    assert len(answered) >= 10 * KILLS  # the load was real
    missing = [rid for rid in answered if rid not in records]
    assert not missing, f"{len(missing)} of {len(answered)} answered calls have no record"


@pytest.mark.postgres
def test_sigkill_under_load_loses_no_answered_call_on_postgres(tmp_path, sim):
    with postgres_database() as url:
        answered, records = kill_under_load(url, sim.url, tmp_path)
    assert len(answered) >= 10 * KILLS
    missing = [rid for rid in answered if rid not in records]
    assert not missing, f"{len(missing)} of {len(answered)} answered calls have no record"


# --- the audit journal: what a killed gateway journaled is written by the next one --------


def test_a_dead_gateways_journal_is_taken_over_by_exactly_one_other(tmp_path):
    dead = Journal(tmp_path)
    assert dead.open() == []
    dead.append({"request_id": "req_1"})
    dead.append({"request_id": "req_2"})
    alive = Journal(tmp_path)
    assert alive.open() == []  # the first one still holds its segment
    dead.close()  # its process is gone: so is its lock; the written segment stays
    heir, other = Journal(tmp_path), Journal(tmp_path)
    assert [r["request_id"] for r in heir.open()] == ["req_1", "req_2"]
    assert other.open() == []  # taken over once, not twice
    heir.release(heir.seal())  # the database has them now
    assert Journal(tmp_path).open() == []
    assert [p.name for p in tmp_path.iterdir() if p.stat().st_size] == []  # all written
    for journal in (alive, heir, other):
        journal.close()


def test_a_record_after_a_write_cut_short_by_a_full_disk_is_still_read(tmp_path, monkeypatch):
    """A full disk cuts a record's line short (ENOSPC after a partial write); space comes back
    and the next record is appended. It must not be glued to the torn line: it was answered
    on the journal's word, and a kill before the database's commit would lose it."""
    journal = Journal(tmp_path)
    journal.open()
    journal.append({"request_id": "req_1"})
    real_write = os.write
    calls = iter([lambda fd, data: real_write(fd, bytes(data[:5])),  # a short write …
                  lambda fd, data: (_ for _ in ()).throw(OSError(28, "No space left"))])
    monkeypatch.setattr(os, "write", lambda fd, data: next(calls)(fd, data))
    with pytest.raises(OSError):
        journal.append({"request_id": "req_torn"})  # … then the disk is full
    monkeypatch.setattr(os, "write", real_write)
    journal.append({"request_id": "req_3"})
    journal.close()  # killed before the database committed them
    heir = Journal(tmp_path)
    assert [r["request_id"] for r in heir.open()] == ["req_1", "req_3"]
    heir.close()


def test_a_torn_last_line_is_skipped(tmp_path):
    dead = Journal(tmp_path)
    dead.open()
    dead.append({"request_id": "req_1"})
    assert dead._current is not None
    dead._current.write(b'{"request_id": "req_')  # killed in the middle of a write
    dead.close()
    assert [r["request_id"] for r in Journal(tmp_path).open()] == ["req_1"]


@pytest.mark.parametrize(("url", "setting", "folder"), [
    ("sqlite:///data/gw.db", None, "data/gw.db.audit-journal"),
    ("sqlite:////var/lib/gw.db", None, "/var/lib/gw.db.audit-journal"),
    ("sqlite+aiosqlite:///gw.db?mode=rwc", None, "gw.db.audit-journal"),
    ("sqlite:///:memory:", None, None),
    ("sqlite:///gw.db", "off", None),
    ("postgresql://db/gs", None, None),
    ("postgresql://db/gs", "/var/lib/journal", "/var/lib/journal"),
    ("memory://", None, None),
])
def test_the_journal_lives_next_to_a_sqlite_database_unless_configured(url, setting, folder):
    assert folder_for(url, setting) == folder


def test_a_journal_that_cannot_be_written_falls_back_to_the_database_commit(gw, sim):
    """A full or failing local disk under the audit journal (ENOSPC): the answer waits for
    the database's commit instead (before: every answer withheld, 503, while the database
    was fine)."""
    journal = gw.gateway.audit.journal
    assert journal is not None  # on by default next to a SQLite database

    def full(record: Any) -> None:
        raise OSError(28, "No space left on device")

    journal.append = full  # type: ignore[method-assign]
    client = gw.client(timeout=30)
    served = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=HELLO, safety_identifier="disk-full")
    assert served.status_code == 200
    assert served.headers["x-request-id"] in recorded(gw.db_url)  # committed before the answer


def test_an_upstream_usage_that_is_no_count_is_recorded_as_unknown(start_gateway, sim):
    """A broken OpenAI-compatible upstream reports usage as "12", 2**40 and 1e308: the call
    is answered and recorded with its counts unknown, and the end user's token limit is not
    charged with them (before: a 500 with no record, or the limit spent for the window)."""
    gw = start_gateway(GOODSTANDING_LIMITS__END_USER__TPM="20000")
    client = gw.client(timeout=30)
    odd = [{"role": "user", "content": "[[fault:bad_usage]] hello"}]
    plain = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=odd, safety_identifier="odd-usage")
    assert plain.status_code == 200
    streamed = list(client.chat.completions.create(
        model=MODEL, messages=odd, safety_identifier="odd-usage", stream=True))
    assert streamed
    assert client.chat.completions.create(model=MODEL, messages=HELLO,
                                          safety_identifier="odd-usage")  # not rate-limited
    rows = eventually(lambda: _all_there(gw.db_url, {plain.headers["x-request-id"]}))
    row = rows[plain.headers["x-request-id"]]
    assert row["status"] == 200 and row["tokens_in"] is None and row["tokens_out"] is None


def _asked_a_broken_upstream(start_gateway: Any, answer: bytes) -> None:
    """One chat call through a gateway whose upstream answers every request with the raw
    bytes ``answer``: the client gets a 502 upstream_unavailable, and the call's record."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return  # closed: the test is over
            with conn:
                conn.recv(65536)
                conn.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    try:
        gw = start_gateway(GOODSTANDING_UPSTREAM_URL=f"http://127.0.0.1:{server.getsockname()[1]}/v1",
                           GOODSTANDING_MODERATION__INPUT="off",  # this upstream moderates nothing
                           # answers are read by the detectors (detectors.output: auto)
                           GOODSTANDING_MODERATION__OUTPUT="off")
        with pytest.raises(openai.APIStatusError) as caught:
            gw.client(timeout=30).chat.completions.create(model=MODEL, messages=HELLO,
                                                          safety_identifier="broken-upstream")
    finally:
        server.close()
    assert caught.value.status_code == 502 and caught.value.code == "upstream_unavailable"
    rid = caught.value.response.headers["x-request-id"]
    assert eventually(lambda: _all_there(gw.db_url, {rid}))[rid]["status"] == 502


@pytest.mark.parametrize("choices", [[{"message": {"tool_calls": "x"}}], ["x"],
                                     [{"message": "x"}]])
def test_an_answer_that_is_not_openais_shape_is_a_recorded_502(start_gateway, choices):
    """JSON from a broken OpenAI-compatible upstream whose ``choices`` cannot be read (the
    outsider trial's ``"tool_calls": "x"``): a recorded 502 upstream_unavailable, not a 500."""
    body = json.dumps({"id": "x", "object": "chat.completion", "choices": choices}).encode()
    _asked_a_broken_upstream(start_gateway, b"HTTP/1.1 200 OK\r\ncontent-type: application/json"
                             b"\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
                             % (len(body), body))


def test_an_upstream_status_that_is_no_http_status_is_a_recorded_502(start_gateway):
    """An upstream (a broken proxy in front of the provider) answers ``HTTP/1.1 999``: uvicorn
    has no status line for it, so passing it on dropped the client's connection unanswered."""
    _asked_a_broken_upstream(
        start_gateway, b"HTTP/1.1 999 Odd\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
