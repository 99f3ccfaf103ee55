"""Request validation: any body at all gets a verdict, never an exception."""

from __future__ import annotations

import asyncio
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from goodstanding.call import Call
from goodstanding.checks.request import RequestCheck

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
chat_like = st.fixed_dictionaries(
    {},
    optional={
        "model": json_values, "messages": json_values, "stream": json_values,
        "max_tokens": json_values, "stream_options": json_values, "user": json_values,
        "n": json_values | st.integers(min_value=-2, max_value=130),
    },
)


def verdict_for(raw: bytes, endpoint: str = "chat.completions"):
    call = Call("r", "POST", "/v1/chat/completions", endpoint, {}, "127.0.0.1", raw_body=raw)
    return call, asyncio.run(RequestCheck().check(call))


@given(st.binary(max_size=200))
def test_any_bytes_get_a_verdict(raw):
    _, verdict = verdict_for(raw)
    assert verdict.outcome in ("pass", "refuse")
    if verdict.refused:
        assert verdict.error.status == 400 and verdict.error.code == "invalid_request"


@settings(max_examples=300)
@given(chat_like)
def test_well_typed_chat_bodies_pass_and_others_are_refused(body):
    call, verdict = verdict_for(json.dumps(body).encode())
    well_typed = (
        isinstance(body.get("model"), str) and body["model"].isprintable()
        and isinstance(body.get("messages"), list)
        and body.get("stream") in (None, True, False)
        and (body.get("max_tokens") is None
             or (type(body["max_tokens"]) is int and body["max_tokens"] >= 1))
        and (body.get("stream_options") is None or isinstance(body["stream_options"], dict))
        and (body.get("n") is None or (type(body["n"]) is int and 1 <= body["n"] <= 128))
    )
    if not well_typed:
        assert verdict.refused
    elif verdict.refused:  # the messages themselves are malformed (tests/test_request_shapes.py)
        assert verdict.error.param.startswith("messages[")
    else:
        assert call.model == body["model"] and call.stream == (body.get("stream") is True)


def test_request_ids_are_unique_and_a_forked_worker_has_its_own() -> None:
    import os

    from goodstanding.server.transport import request_id

    mine = {request_id() for _ in range(1000)}
    assert len(mine) == 1000 and all(rid.startswith("req_") for rid in mine)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report an id and leave at once
        os.write(write, request_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    os.close(write)
    assert child.startswith("req_") and child[4:20] != next(iter(mine))[4:20]
