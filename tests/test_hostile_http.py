"""Hostile HTTP is bounded (issue 10), through a real gateway server.

Raw sockets where the SDK cannot produce the request (broken framing, huge heads, half-sent
requests, paths an HTTP client would normalise); the official SDK for the calls that must keep
working meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import openai
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goodstanding.bounds import check_json_depth
from goodstanding.errors import InvalidRequest
from goodstanding.runner import serve_in_thread
from tests.conftest import _make_key, gateway_env
from tests.scale_helpers import free_port, wait_healthy

MODEL = "gpt-4o-mini"
HELLO = [{"role": "user", "content": "hello there"}]


# --- raw HTTP -------------------------------------------------------------------------------

def connect(url: str, source: str = "127.0.0.1", timeout: float = 10.0) -> socket.socket:
    parts = urllib.parse.urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=timeout,
                                    source_address=(source, 0))


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed without an answer after {buffer[:200]!r}")
        buffer += chunk
    head, _, body = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip()
               for name, value in (line.split(":", 1) for line in lines[1:])}
    size = int(headers.get("content-length", "0"))
    while len(body) < size:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def exchange(url: str, data: bytes, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` (stopping early if the server answers first) and read the answer."""
    with connect(url, **kwargs) as sock:
        view = memoryview(data)
        while view:
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            if poller.poll(0):
                break  # answered before the end of the request: stop sending, as clients do
            try:
                sent = sock.send(view[:262144])
            except OSError:
                break
            view = view[sent:]
        return read_response(sock)


def error_of(body: bytes) -> dict[str, Any]:
    error = orjson.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def record(gw: Any, request_id: str, wait: float = 3.0) -> dict[str, Any]:
    deadline = time.monotonic() + wait
    while True:
        rows = [r for r in gw.store_call("query_audit", limit=1000)
                if r["request_id"] == request_id]
        if rows or time.monotonic() > deadline:
            assert rows, f"no audit record for {request_id}"
            return rows[0]
        time.sleep(0.05)


def chat_request(gw: Any, body: bytes, path: str = "/v1/chat/completions",
                 headers: str = "") -> bytes:
    """A raw request; ``headers``: more header lines, each ending in CRLF."""
    return (f"POST {path} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {gw.token}\r\n"
            f"{headers}Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


# --- JSON depth; every ending leaves a record -----------------------------------------------

def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_json_nested_300_deep_is_a_recorded_400(gw, sim):
    body = ('{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],'
            '"safety_identifier":"deep","metadata":{"x":' + nested(300) + "}}").encode()
    status, headers, answer = exchange(gw.url, chat_request(gw, body))
    assert status == 400 and error_of(answer)["code"] == "invalid_request"
    assert "deeper than 64" in error_of(answer)["message"]
    row = record(gw, headers["x-request-id"])
    assert row["status"] == 400 and row["reasons"] == ["json_depth"]
    assert sim.calls["/v1/chat/completions"] == 0
    # a normal call after it is served and recorded
    answer = gw.client().chat.completions.with_raw_response.create(
        model=MODEL, messages=HELLO, safety_identifier="deep")
    assert record(gw, answer.headers["x-request-id"])["decision"] == "allowed"


def test_reasonably_nested_json_passes(gw, sim):
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(12):  # a tool schema 12 objects deep: ~28 levels of JSON
        schema = {"type": "object", "properties": {"inner": schema}}
    tool = {"type": "function", "function": {"name": "f", "parameters": schema}}
    answer = gw.client().chat.completions.create(
        model=MODEL, messages=HELLO, tools=[tool], safety_identifier="nest")
    assert answer.choices


@pytest.mark.parametrize(("text", "deep"), [
    (nested(64), False),
    (nested(65), True),
    ('{"a":' * 65 + "1" + "}" * 65, True),
    ("[" + ",".join([nested(60)] * 50) + "]", False),  # many brackets, little depth
    ('["' + "[" * 500 + '"]', False),  # brackets inside a string do not nest
    ('["\\"' + "[" * 500 + '"]', False),  # nor after an escaped quote
    ("[" + "[],[[" * 40 + "]]" * 40 + "]", True),  # deep without long runs of openers
])
def test_json_depth_bound(text: str, deep: bool):
    if deep:
        with pytest.raises(InvalidRequest):
            check_json_depth(text.encode(), 64)
    else:
        check_json_depth(text.encode(), 64)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


_TRICKY = st.text(alphabet='[]{}"\\ax\n', max_size=6)
_DOCUMENTS = st.recursive(
    st.none() | st.integers(min_value=-(2**53), max_value=2**53) | _TRICKY,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TRICKY, inner, max_size=3),
    max_leaves=40)


@given(document=_DOCUMENTS, limit=st.integers(min_value=2, max_value=9))
@settings(max_examples=400, deadline=None)
def test_json_depth_bound_is_exact(document: Any, limit: int):
    """Brackets, quotes and backslashes inside strings never count; real nesting always does."""
    body = orjson.dumps(document)
    if _depth(document) > limit:
        with pytest.raises(InvalidRequest):
            check_json_depth(body, limit)
    else:
        check_json_depth(body, limit)


@pytest.fixture
def budget_gateway(start_gateway: Any) -> Any:
    # one reservation (prompt + max_tokens 4000) fits in the minute's tokens, two do not: a
    # call that ends without settling its reservation shows as a 429 on the next one
    return start_gateway(GOODSTANDING_LIMITS__END_USER__TPM="6000")


def _ask(gw: Any, **kwargs: Any) -> Any:
    return gw.client().chat.completions.create(
        model=MODEL, messages=HELLO, safety_identifier="budget", max_tokens=4000, **kwargs)


def test_an_exception_in_the_upstream_stage_is_a_recorded_500_and_settles(
        budget_gateway, sim, monkeypatch):
    gw = budget_gateway

    async def broken(call: Any) -> Any:
        raise RuntimeError("injected 7f3a")

    monkeypatch.setattr(gw.gateway.pipeline.upstream, "send", broken)
    for _ in range(3):
        with pytest.raises(openai.InternalServerError) as caught:
            _ask(gw)
        assert caught.value.code == "internal_error"
        assert "7f3a" not in caught.value.response.text
        assert "Traceback" not in caught.value.response.text
        row = record(gw, caught.value.request_id)
        assert row["status"] == 500 and row["decision"] == "failed"
        assert row["reasons"] == ["internal_error:RuntimeError"]
    monkeypatch.undo()
    assert _ask(gw).choices  # the three reservations were given back


def test_an_exception_in_a_check_is_a_recorded_refusal_that_settles(
        budget_gateway, sim, monkeypatch):
    gw = budget_gateway
    moderation = next(c for c in gw.gateway.pipeline.checks if c.name == "moderation")

    async def broken(call: Any) -> Any:  # after the limits check has reserved tokens
        raise RuntimeError("injected 5d1e")

    monkeypatch.setattr(moderation, "check", broken)
    for _ in range(3):
        with pytest.raises(openai.InternalServerError) as caught:
            _ask(gw)
        assert caught.value.status_code == 503 and caught.value.code == "check_failed"
        row = record(gw, caught.value.request_id)
        assert row["status"] == 503 and row["reasons"] == ["check_failed:moderation"]
    assert sim.calls["/v1/chat/completions"] == 0
    monkeypatch.undo()
    assert _ask(gw).choices


def test_an_exception_in_the_stream_relay_is_recorded_and_settles(
        budget_gateway, sim, monkeypatch):
    gw = budget_gateway
    from goodstanding.stream.reading import StreamState

    def broken(self: Any, event: bytes) -> Any:
        raise RuntimeError("injected 9b2c")

    monkeypatch.setattr(StreamState, "inspect", broken)
    for _ in range(2):
        stream = gw.client().chat.completions.with_raw_response.create(
            model=MODEL, messages=HELLO, safety_identifier="budget", max_tokens=4000,
            stream=True)
        with pytest.raises(openai.APIError) as caught:
            list(stream.parse())
        assert "9b2c" not in str(caught.value)
        row = record(gw, stream.headers["x-request-id"])
        assert row["status"] == 500 and row["decision"] == "failed"
    monkeypatch.undo()
    assert _ask(gw).choices


# --- heads: size and count ------------------------------------------------------------------

def test_ten_thousand_headers_are_refused_with_431(gw):
    head = b"GET /v1/models HTTP/1.1\r\nHost: gw\r\n"
    head += b"".join(b"x-h%d: v\r\n" % i for i in range(10_000)) + b"\r\n"
    status, headers, body = exchange(gw.url, head)
    assert status == 431 and error_of(body)["code"] == "headers_too_large"
    assert headers["connection"] == "close"


def test_a_few_hundred_small_headers_are_refused_by_count(gw):
    head = b"GET /v1/models HTTP/1.1\r\nHost: gw\r\n"
    head += b"".join(b"x%d: v\r\n" % i for i in range(150)) + b"\r\n"
    status, _, body = exchange(gw.url, head)
    assert status == 431 and "too many headers" in error_of(body)["message"]


@pytest.mark.parametrize("size", [1 << 20, 32 << 20], ids=["1MiB", "32MiB"])
def test_a_huge_header_is_refused_before_it_ends(gw, size):
    head = b"GET /v1/models HTTP/1.1\r\nHost: gw\r\nX-Big: " + b"a" * size + b"\r\n\r\n"
    status, _, body = exchange(gw.url, head)
    assert status == 431 and error_of(body)["code"] == "headers_too_large"


def test_a_huge_complete_header_in_one_read_is_refused(gw):
    head = b"GET /v1/models HTTP/1.1\r\nHost: gw\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
    status, _, body = exchange(gw.url, head)
    assert status == 431 and error_of(body)["code"] == "headers_too_large"


def test_a_gateway_with_cors_keeps_its_header_limits(start_gateway):
    # Cors wraps the app: the runner must still serve it with the bounded protocol
    gw = start_gateway(GOODSTANDING_SERVER__CORS_ORIGINS="https://app.example")
    head = b"GET /v1/models HTTP/1.1\r\nHost: gw\r\nOrigin: https://app.example\r\n"
    head += b"".join(b"x%d: v\r\n" % i for i in range(150)) + b"\r\n"
    status, _, body = exchange(gw.url, head)
    assert status == 431 and "too many headers" in error_of(body)["message"]


def test_ordinary_heads_and_large_bodies_are_served(gw, sim):
    body = orjson.dumps({"model": MODEL, "safety_identifier": "big",
                         "messages": [{"role": "user", "content": "hello " * 30_000}]})
    status, _, answer = exchange(gw.url, chat_request(gw, body))  # 180 kB in few reads
    assert status == 200 or error_of(answer)["code"] == "prompt_too_long", answer


# --- malformed framing ----------------------------------------------------------------------

@pytest.mark.parametrize("data", [
    b"GARBAGE\r\n\r\n",
    b"GET /v1/models HTTP/1.1\r\nHost: gw\r\nContent-Length: abc\r\n\r\n",
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /v1/models HTTP/1.1\r\nBad Header\r\n\r\n",
], ids=["not-http", "bad-length", "bad-chunk", "bad-header"])
def test_malformed_framing_is_answered_in_the_openai_envelope(gw, data):
    status, headers, body = exchange(gw.url, data)
    assert status == 400 and headers["content-type"] == "application/json"
    assert error_of(body)["code"] == "invalid_request"
    assert headers["x-request-id"].startswith("req_")


# --- timeouts and connection caps -----------------------------------------------------------

def test_a_half_sent_head_is_answered_408_in_time(start_gateway):
    gw = start_gateway(GOODSTANDING_SERVER__HEADER_TIMEOUT="1")
    with connect(gw.url) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n")
        started = time.monotonic()
        for _ in range(3):  # dripping more header lines does not extend the deadline
            time.sleep(0.4)
            try:
                sock.sendall(b"X-Drip: 1\r\n")
            except OSError:
                break
        status, _, body = read_response(sock)
        assert status == 408 and error_of(body)["code"] == "request_timeout"
        assert time.monotonic() - started < 3.0
        assert sock.recv(10) == b""  # and closed


def test_a_silent_connection_is_closed_quietly(start_gateway):
    gw = start_gateway(GOODSTANDING_SERVER__HEADER_TIMEOUT="1")
    with connect(gw.url) as sock:
        started = time.monotonic()
        assert sock.recv(100) == b""  # no answer nobody asked for: just closed
        assert 0.9 < time.monotonic() - started < 3.0


def test_a_half_sent_body_is_cut_off_and_recorded(start_gateway):
    gw = start_gateway(GOODSTANDING_SERVER__BODY_TIMEOUT="1")
    with connect(gw.url) as sock:
        sock.sendall(chat_request(gw, b"x" * 1000)[:-990])  # the head and 10 bytes of body
        started = time.monotonic()
        status, _, body = read_response(sock)
        assert status == 408 and "body" in error_of(body)["message"]
        assert time.monotonic() - started < 3.5
        assert sock.recv(10) == b""
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        rows = [r for r in gw.store_call("query_audit", limit=100)
                if r["reasons"] == ["body_incomplete"]]
        if rows:
            break
        time.sleep(0.05)
    assert rows and rows[0]["status"] == 400


def _sdk_calls_in_time(gw: Any, n: int, within: float) -> list[float]:
    client = gw.client(timeout=within)
    took = []
    for i in range(n):
        started = time.monotonic()
        client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier=f"n{i}")
        took.append(time.monotonic() - started)
    return took


def test_normal_calls_are_served_during_a_slow_client_attack(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_SERVER__HEADER_TIMEOUT="2",
                       GOODSTANDING_SERVER__MAX_CONNECTIONS_PER_IP="50",
                       GOODSTANDING_LIMITS__END_USER__RPM="1000",
                       GOODSTANDING_LIMITS__IP__RPM="1000")
    attackers: list[socket.socket] = []
    stop = threading.Event()

    def drip() -> None:  # slowloris: a header line now and then on every socket
        while not stop.wait(0.3):
            for sock in attackers:
                try:
                    sock.send(b"X-Slow: 1\r\n")
                except OSError:
                    pass

    started = time.monotonic()
    for _ in range(300):
        sock = connect(gw.url, source="127.0.0.2")
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n")
        attackers.append(sock)
    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    try:
        took = _sdk_calls_in_time(gw, 8, within=3.0)  # from 127.0.0.1, during the attack
        assert max(took) < 3.0, took
        time.sleep(max(0.0, started + 2.0 + 1.5 - time.monotonic()))
        answers: dict[int, int] = {}
        for sock in attackers:
            sock.settimeout(3)
            try:
                status, _, _ = read_response(sock)
            except TimeoutError:
                status = -1  # still open: must not happen
            except OSError:
                status = 0  # dropped
            answers[status] = answers.get(status, 0) + 1
    finally:
        stop.set()
        dripper.join()
        for sock in attackers:
            sock.close()
    # 50 held until their head deadline (408), 50 more refused (429), the flood beyond twice
    # the cap dropped at once; none left open
    assert answers.get(408, 0) <= 50 and answers.get(408, 0) + answers.get(429, 0) <= 100
    assert answers.get(0, 0) >= 200 and answers.get(-1, 0) == 0, answers
    assert _sdk_calls_in_time(gw, 2, within=3.0)


def test_connections_over_the_total_cap_are_refused_and_the_server_recovers(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_SERVER__HEADER_TIMEOUT="1",
                       GOODSTANDING_SERVER__MAX_CONNECTIONS="20")
    held = [connect(gw.url, source=f"127.0.0.{3 + i % 5}") for i in range(20)]
    try:
        time.sleep(0.1)
        status, headers, body = exchange(gw.url, b"GET /v1/models HTTP/1.1\r\nHost: gw\r\n\r\n")
        assert status == 503 and error_of(body)["code"] == "too_many_connections"
        assert headers["retry-after"] == "1"
        time.sleep(2.6)  # the silent ones were timed out (1 s), and lingered (1 s) unread
        assert _sdk_calls_in_time(gw, 2, within=3.0)
    finally:
        for sock in held:
            sock.close()


@contextmanager
def gateway_with_file_limit(tmp_path: Any, sim: Any, limit: int, **env: str) -> Iterator[Any]:
    """``goodstanding serve`` in a process whose open-file limit is ``limit`` (soft and hard)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GOODSTANDING_")}
    environment.update(gateway_env(tmp_path, sim.url, **env))
    db_url = environment["GOODSTANDING_DATABASE_URL"]
    _, token = asyncio.run(_make_key(db_url))
    port = free_port()

    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    process = subprocess.Popen(
        [sys.executable, "-m", "goodstanding.cli", "serve", "--port", str(port)],
        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=limit_files)  # noqa: PLW1509 - a resource limit, no threads involved
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        yield SimpleNamespace(url=url, token=token, process=process)
    finally:
        process.terminate()
        process.wait(15)


def test_a_thousand_slow_connections_do_not_lock_out_a_1024_descriptor_server(tmp_path, sim):
    """Before: ~1,100 half-sent requests used every descriptor and nobody else got in."""
    with gateway_with_file_limit(tmp_path, sim, 1024,
                                 GOODSTANDING_SERVER__HEADER_TIMEOUT="3") as gw:
        attackers = []
        for _ in range(1100):
            try:
                sock = connect(gw.url, source="127.0.0.2", timeout=2)
                sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n")
            except OSError:
                continue
            attackers.append(sock)
        try:
            client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.token, timeout=5,
                                   max_retries=0)
            for i in range(5):  # during the attack, from another address
                started = time.monotonic()
                assert client.chat.completions.create(
                    model=MODEL, messages=HELLO, safety_identifier=f"fd{i}").choices
                assert time.monotonic() - started < 5
            assert gw.process.poll() is None
            held = 0
            for sock in attackers:
                sock.settimeout(6)
                try:
                    status, _, _ = read_response(sock)
                except OSError:
                    continue
                held += status == 408
            assert 0 < held <= 256  # only the per-address cap was ever waiting for a head
        finally:
            for sock in attackers:
                sock.close()


# --- paths and query strings ----------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/v1/models/%2e%2e",
    "/v1/models/%2E%2E/",
    "/v1/models/..",
    "/v1/models/.",
    "/v1/models/a/../../files",
    "/v1/models/a%2fb",
    "/v1/chat%2Fcompletions",
    "/v1/models/a%2F..%2Fb",
    "/v1/models/a%5cb",
    "/v1/models/%252e%252e",
    "/v1/models/a%3Fapi-key=x",
    "/v1/models/a%23b",
    "/v1/models/a%00b",
    "/v1//models",
    "/v1/models/",
])
def test_paths_that_could_mean_another_path_are_refused(gw, sim, path):
    request = f"GET {path} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {gw.token}\r\n\r\n"
    status, headers, body = exchange(gw.url, request.encode())
    assert status == 400 and error_of(body)["code"] == "invalid_request", body
    assert sum(sim.calls.values()) == 0
    assert record(gw, headers["x-request-id"])["reasons"] == ["invalid_path"]


def test_a_plain_model_path_reaches_upstream_as_checked(gw, sim):
    gw.client().models.retrieve("gpt-4o-mini")
    assert sim.requests[-1]["path"] == "/v1/models/gpt-4o-mini"


class Recorder:
    """The simulated upstream behind a recorder of each request's raw line and raw body."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[tuple[str, bytes, bytes]] = []
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.seen.append((scope["method"], scope["raw_path"], scope["query_string"]))
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        self.bodies.append(body)
        replayed = False

        async def replay() -> Any:  # the app reads the body we took, then waits as before
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


@pytest.fixture
def recorded(start_gateway: Any, sim: Any) -> Iterator[tuple[Any, Recorder]]:
    recorder = Recorder(sim)
    with serve_in_thread(recorder) as url:
        gw = start_gateway(GOODSTANDING_UPSTREAM_URL=f"{url}/v1",
                           GOODSTANDING_UPSTREAM__ALLOWED_PATHS='["/v1/files"]')
        yield gw, recorder


def test_no_query_parameter_reaches_generation_or_models(recorded):
    gw, recorder = recorded
    client = gw.client(default_query={"api-key": gw.token, "key": "gsk-x", "limit": "2"})
    client.chat.completions.create(model=MODEL, messages=HELLO, safety_identifier="q")
    client.models.list()
    seen = [s for s in recorder.seen if s[1] in (b"/v1/chat/completions", b"/v1/models")]
    assert {s[1] for s in seen} == {b"/v1/chat/completions", b"/v1/models"}
    assert all(query == b"" for _, _, query in seen), seen


def test_allowed_paths_get_their_list_parameters_and_never_a_credential(recorded):
    gw, recorder = recorded
    query = (f"limit=2&order=asc&api-key={gw.token}&api_key=gsk-x&token=t&after=sk-live-1"
             "&purpose=batch")
    request = (f"GET /v1/files?{query} HTTP/1.1\r\nHost: gw\r\n"
               f"Authorization: Bearer {gw.token}\r\n\r\n")
    exchange(gw.url, request.encode())
    sent = [s for s in recorder.seen if s[1] == b"/v1/files"]
    assert sent and sent[-1][2] == b"limit=2&order=asc&purpose=batch"


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate keys reached upstream: {keys}"
    return dict(pairs)


@pytest.mark.parametrize("where", ["messages", "content"])
def test_a_key_sent_twice_reaches_upstream_once_as_moderated(start_gateway, sim, where):
    """JSON with a key twice: the gateway reads the last one (and moderates that); a parser
    that keeps the first would read the other. What reaches upstream is what was moderated,
    never the raw bytes, even on a path that changes nothing in the body (no end user
    required, an output cap below the gateway's)."""
    recorder = Recorder(sim)
    with serve_in_thread(recorder) as url:
        gw = start_gateway(GOODSTANDING_UPSTREAM_URL=f"{url}/v1",
                           GOODSTANDING_IDENTITY__REQUIRE_END_USER="false")
        hidden = "[[echo]] I will kill you"
        head = f'{{"model":"{MODEL}","max_completion_tokens":16,'
        if where == "messages":
            body = (head + f'"messages":[{{"role":"user","content":"{hidden}"}}],'
                    '"messages":[{"role":"user","content":"hello"}]}')
        else:
            body = (head + f'"messages":[{{"role":"user","content":"{hidden}",'
                    '"content":"hello"}]}')
        request = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n"
                   f"Authorization: Bearer {gw.token}\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n{body}")
        status, _, answer = exchange(gw.url, request.encode())
        assert status == 200, answer
        sent = [b for b in recorder.bodies if b"max_completion_tokens" in b]
        assert sent, recorder.bodies
        upstream = json.loads(sent[-1], object_pairs_hook=_no_duplicate_keys)
        assert upstream["messages"] == [{"role": "user", "content": "hello"}]


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
def test_a_compressed_body_is_refused_by_name(gw, sim, encoding):
    """A compressed body is neither unpacked nor read as JSON (a gzip body used to be "not
    valid JSON", and "br" over plain JSON was read as if uncompressed): a clear 400."""
    import gzip

    plain = json.dumps({"model": MODEL, "safety_identifier": "z", "messages": HELLO}).encode()
    data = gzip.compress(plain) if encoding == "gzip" else plain
    status, headers, body = exchange(
        gw.url, chat_request(gw, data, headers=f"Content-Encoding: {encoding}\r\n"))
    error = error_of(body)
    assert status == 400 and error["code"] == "invalid_request", body
    assert f"Content-Encoding: {encoding}" in error["message"]
    assert sum(sim.calls.values()) == 0
    assert record(gw, headers["x-request-id"])["status"] == 400  # recorded like any refusal


@pytest.mark.parametrize("name", ["X-End-User", "Authorization"])
def test_an_identity_header_sent_twice_is_refused(gw, sim, name):
    """The last of two values used to win: a client could put its own X-End-User after the one
    its application's proxy set and be served as someone else (a banned user as a clean one)."""
    body = json.dumps({"model": MODEL, "messages": HELLO}).encode()
    twice = ("X-End-User: alice\r\nX-End-User: bob\r\n" if name == "X-End-User"
             else f"Authorization: Bearer {gw.token}\r\n")
    status, headers, answer = exchange(gw.url, chat_request(gw, body, headers=twice))
    error = error_of(answer)
    assert status == 400 and error["code"] == "invalid_request", answer
    assert error["param"] == name.lower() and "more than once" in error["message"]
    assert "alice" not in error["message"] and gw.token not in error["message"]
    assert sum(sim.calls.values()) == 0
    assert record(gw, headers["x-request-id"])["status"] == 400


def test_other_headers_may_repeat(gw, sim):
    body = json.dumps({"model": MODEL, "messages": HELLO}).encode()
    repeated = "X-End-User: alice\r\nAccept: application/json\r\nAccept: */*\r\n"
    status, _, answer = exchange(gw.url, chat_request(gw, body, headers=repeated))
    assert status == 200, answer
