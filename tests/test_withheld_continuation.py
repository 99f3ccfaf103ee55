"""A Responses answer the gateway withheld cannot be continued (``previous_response_id``,
``conversation``): OpenAI stored it all the same, and the flagged text would be the next
turn's unmoderated context. Through a real gateway with the official SDK."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import openai
import pytest

MODEL = "gpt-4o-mini"
VIOLENT = "I will kill you all"
CLEAN = ("The weather today is calm and pleasant, with a gentle breeze over the quiet hills "
         "and a few clouds drifting slowly towards the sea. ")  # fmt: skip


def user() -> str:
    return "u-" + secrets.token_hex(4)  # a strike per withheld answer: one end user per test


def refused_continuation(gw: Any, sim: Any, field: str, **kwargs: Any) -> Any:
    """The 400 a call continuing from a withheld answer gets; nothing was sent upstream."""
    sent = sim.calls.get("/v1/responses", 0)
    with pytest.raises(openai.BadRequestError) as caught:
        gw.client().responses.create(model=MODEL, input="and then?", safety_identifier=user(),
                                     **kwargs)
    assert caught.value.code == "invalid_request" and caught.value.param == field
    assert "withheld by the gateway's moderation" in caught.value.message
    assert sim.calls.get("/v1/responses", 0) == sent
    return caught.value


def record_of(gw: Any, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while not (found := gw.store_call("query_audit", request_id=request_id)):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return found[0]


def test_a_withheld_answers_id_cannot_be_continued(gw, sim):
    withheld = gw.client().responses.create(model=MODEL, input=f"story [[say:{VIOLENT}]]",
                                            store=True, safety_identifier=user())
    assert withheld.status == "incomplete" and withheld.id.startswith("resp_")
    error = refused_continuation(gw, sim, "previous_response_id",
                                 previous_response_id=withheld.id)
    record = record_of(gw, error.response.headers["x-request-id"])
    assert record["status"] == 400 and record["decision"] == "refused"
    assert record["reasons"] == ["previous_response_withheld"]


def test_a_cut_streams_id_cannot_be_continued(gw, sim):
    said = CLEAN * 3 + VIOLENT
    events = list(gw.client().responses.create(model=MODEL, input=f"[[say:{said}]]",
                                               stream=True, safety_identifier=user()))
    assert events[0].type == "response.created" and events[-1].type == "response.incomplete"
    created = events[0].response.id
    assert events[-1].response.id == created  # the cut stream ends with its own id
    error = refused_continuation(gw, sim, "previous_response_id", previous_response_id=created)
    assert record_of(gw, error.response.headers["x-request-id"])["reasons"] == [
        "previous_response_withheld"]


def test_a_clean_answers_id_is_continued(gw, sim):
    client = gw.client()
    first = client.responses.create(model=MODEL, input="[[say:Hello there.]]",
                                    safety_identifier=user())
    streamed = list(client.responses.create(model=MODEL, input="[[say:Hi again.]]",
                                            stream=True, safety_identifier=user()))
    for previous in (first.id, streamed[0].response.id):
        answer = client.responses.create(model=MODEL, input="and then?",
                                         previous_response_id=previous,
                                         safety_identifier=user())
        assert answer.status == "completed"
        sent = [r["body"] for r in sim.requests if r["path"] == "/v1/responses"]
        assert sent[-1]["previous_response_id"] == previous  # forwarded


def test_a_conversation_holding_a_withheld_answer_cannot_be_continued(gw, sim):
    client = gw.client()
    client.responses.create(model=MODEL, input="[[say:Hello there.]]",
                            conversation="conv_clean", safety_identifier=user())
    withheld = client.responses.create(model=MODEL, input=f"[[say:{VIOLENT}]]",
                                       conversation={"id": "conv_flagged"},
                                       safety_identifier=user())
    assert withheld.status == "incomplete"
    refused_continuation(gw, sim, "conversation", conversation="conv_flagged")
    answer = client.responses.create(model=MODEL, input="and then?", conversation="conv_clean",
                                     safety_identifier=user())
    assert answer.status == "completed"


def test_an_outage_of_the_lookup_is_a_recorded_503(gw, sim, monkeypatch):
    bounded = gw.gateway.store  # storage.timeout around every operation
    monkeypatch.setattr(bounded, "timeout", 0.3)

    async def frozen(ids: Any, now: float) -> set[str]:
        await asyncio.sleep(60)
        return set()

    monkeypatch.setattr(bounded.inner, "withheld_among", frozen)  # the database hangs
    monkeypatch.delitem(bounded.__dict__, "withheld_among", raising=False)
    sent = sim.calls.get("/v1/responses", 0)
    with pytest.raises(openai.InternalServerError) as caught:
        gw.client().responses.create(model=MODEL, input="and then?", safety_identifier=user(),
                                     previous_response_id="resp_any")
    assert caught.value.status_code == 503 and caught.value.code == "store_unavailable"
    assert sim.calls.get("/v1/responses", 0) == sent
    record = record_of(gw, caught.value.response.headers["x-request-id"])
    assert record["reasons"] == ["store_unavailable:database"]
    # a call naming no stored state never reads it
    assert gw.client().responses.create(model=MODEL, input="hello", safety_identifier=user())


def test_a_withheld_answer_whose_id_cannot_be_remembered_is_not_given(gw, sim, monkeypatch):
    """The store does not answer: the client gets a 503, not an id it could continue from."""
    bounded = gw.gateway.store
    monkeypatch.setattr(bounded, "timeout", 0.3)

    async def frozen(ids: Any, now: float) -> None:
        await asyncio.sleep(60)

    monkeypatch.setattr(bounded.inner, "remember_withheld", frozen)
    monkeypatch.delitem(bounded.__dict__, "remember_withheld", raising=False)
    with pytest.raises(openai.InternalServerError) as caught:
        gw.client().responses.create(model=MODEL, input=f"[[say:{VIOLENT}]]",
                                     safety_identifier=user())
    assert caught.value.status_code == 503 and caught.value.code == "store_unavailable"
    assert "resp_" not in caught.value.response.text


@pytest.mark.parametrize("value", ["resp_" + "a" * 200, "resp_\x00nul", "resp_é"])
def test_an_id_that_does_not_fit_the_column_is_kept_by_its_hash(value):
    from goodstanding.checks.continuation import MAX_ID_CHARS, stored_id

    kept = stored_id(value)
    assert kept.startswith("sha256:") and len(kept) <= MAX_ID_CHARS
    assert stored_id("resp_" + "a" * 48) == "resp_" + "a" * 48
