"""Moderation's pieces on their own: parts, cache, policy, budget, inline scores, local."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from goodstanding.audit import AuditLog
from goodstanding.call import Call
from goodstanding.checks.moderation import ModerationCheck, ModerationOutputCheck, inline_output
from goodstanding.checks.upstream_policy import answer_signal
from goodstanding.moderation.budget import Budget, BudgetExhausted, go_duration
from goodstanding.moderation.cache import MemoryCache, part_key
from goodstanding.moderation.client import ModerationFailed
from goodstanding.moderation.judge import Judge
from goodstanding.moderation.parts import Malformed, extract, request_parts
from goodstanding.moderation.policy import Policy
from goodstanding.moderation.scored import CLEAN, from_result, scored
from goodstanding.moderation.seams import REACH, SEP, SPAN, spanned, windows
from goodstanding.pipeline import Pipeline, Result
from goodstanding.stores.memory import MemoryStore

# --- parts ------------------------------------------------------------------------------------

CHAT = {"messages": [
    {"role": "system", "content": "sys"},
    {"role": "developer", "content": [{"type": "text", "text": "dev"}]},
    {"role": "user", "content": [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "input_audio", "input_audio": {"data": "...", "format": "wav"}}]},
    {"role": "assistant", "content": None, "refusal": "no way",
     "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "1", "content": "result"},
    {"role": "user", "content": "   "},
]}  # fmt: skip

RESPONSES = {"instructions": "inst", "input": [
    {"role": "user", "content": [{"type": "input_text", "text": "q"},
                                 {"type": "input_image", "image_url": "https://x/b.png"}]},
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "a"}]},
    {"type": "function_call", "call_id": "c", "name": "f", "arguments": '{"x":1}'},
    {"type": "function_call_output", "call_id": "c", "output": "out"},
]}  # fmt: skip


@pytest.mark.parametrize(("endpoint", "body", "expected"), [
    # a message's texts are one text (its images stay parts of their own)
    ("chat.completions", CHAT, [("text", "sys"), ("text", "dev"), ("text", "look"),
     ("image", "https://x/a.png"), ("image", "data:image/png;base64,AAAA"),
     ("text", "no way\nf\n{}"), ("text", "result")]),
    ("responses", RESPONSES, [("text", "inst"), ("text", "q"), ("image", "https://x/b.png"),
     ("text", "a"), ("text", 'f\n{"x":1}'), ("text", "out")]),
    # the model reads the instructions first, whatever the order of the body's keys
    ("responses", {"input": "q", "model": "m", "instructions": "inst"},
     [("text", "inst"), ("text", "q")]),
    ("responses", {"input": "plain"}, [("text", "plain")]),
    ("images.generations", {"prompt": "a cat"}, [("text", "a cat")]),
    ("embeddings", {"input": "not a generation"}, []),
])  # fmt: skip
def test_request_parts(endpoint: str, body: dict[str, Any], expected: list[Any]) -> None:
    assert request_parts(endpoint, body) == expected


@pytest.mark.parametrize(("message", "param"), [
    (None, "messages[0]"),
    ({"role": "user", "content": 3}, "messages[0].content"),
    ({"role": "user", "content": [None]}, "messages[0].content[0]"),
    ({"role": "assistant", "tool_calls": [None]}, "messages[0].tool_calls[0]"),
    ({"content": "no role"}, "messages[0].role"),
])  # fmt: skip
def test_request_parts_refuse_the_shapes_they_cannot_read(message: Any, param: str) -> None:
    with pytest.raises(Malformed) as caught:
        request_parts("chat.completions", {"messages": [message]})
    assert caught.value.param == param


# --- windows across texts ----------------------------------------------------------------------


@given(st.lists(st.text(alphabet="ab \n", max_size=3 * REACH), min_size=1, max_size=30))
def test_every_boundary_lies_whole_in_a_window_and_the_windows_stay_short(texts):
    stream = SEP.join(texts)
    found = windows(texts)
    assert [window for _, _, window in spanned(texts)] == found
    assert len(found) <= max(0, len(texts) - 1) and all(len(w) <= SPAN for w in found)
    boundary = -1
    for text in texts[:-1]:
        boundary += len(text) + 1  # the separator after ``text``
        around = stream[max(0, boundary - REACH):boundary + 1 + REACH]
        assert any(around in window for window in found)
    # the price: about twice the text at most, however small the texts
    assert sum(map(len, found)) <= 2 * len(stream) + SPAN


def test_a_window_names_the_texts_it_spans():
    assert spanned(["alone"]) == []
    assert spanned(["a", "b", "c"]) == [(0, 2, "a\nb\nc")]
    long = "x" * (4 * REACH)
    assert [(first, last) for first, last, _ in spanned([long, "b", long])] == [(0, 2)]
    assert [(first, last) for first, last, _ in spanned([long, long, long])] == [(0, 1), (1, 2)]


def test_a_window_touching_a_tool_result_counts_as_a_tool_result():
    """The detectors count a jailbreak only in the user's own text, windows included."""
    long = "x" * (4 * REACH)
    found = extract("chat.completions", {"messages": [
        {"role": "user", "content": long}, {"role": "assistant", "content": long},
        {"role": "tool", "tool_call_id": "c", "content": long}]}).seams()
    assert [tool for tool, _ in found] == [False, True]


# --- cache --------------------------------------------------------------------------------------


async def test_cache_evicts_the_least_recently_used() -> None:
    cache = MemoryCache(2)
    a, b, c = (part_key(("text", t), "m") for t in "abc")
    await cache.put_many([(a, CLEAN), (b, CLEAN)])
    await cache.get_many([a])  # a is now the most recent
    await cache.put_many([(c, CLEAN)])
    assert await cache.get_many([a, b, c]) == [CLEAN, None, CLEAN]
    assert len(cache) == 2


async def test_cache_of_size_zero_remembers_nothing() -> None:
    cache = MemoryCache(0)
    key = part_key(("text", "a"), "m")
    await cache.put_many([(key, CLEAN)])
    assert await cache.get_many([key]) == [None]


def test_keys_depend_on_kind_model_and_content() -> None:
    keys = {part_key(("text", "a"), "m"), part_key(("image", "a"), "m"),
            part_key(("text", "a"), "n"), part_key(("text", "b"), "m")}  # fmt: skip
    assert len(keys) == 4 and all(len(k) == 16 for k in keys)


def test_clean_results_share_one_instance() -> None:
    result = {"categories": {"violence": False}, "category_scores": {"violence": 0.0001}}
    assert from_result(result) is CLEAN


class FakeClient:
    model = "m"

    def __init__(self, fail: bool = False) -> None:
        self.seen: list[list[Any]] = []
        self.fail = fail

    async def classify(self, parts: list[Any], upstream: str | None = None) -> list[Any]:
        self.seen.append(list(parts))
        if self.fail:
            raise ModerationFailed("down")
        if any(kind == "image" for kind, _ in parts):
            flagged = any("bad" in c for _, c in parts)
            return [scored({"violence"} if flagged else (), {})] * len(parts)
        return [scored({"violence"} if "bad" in c else (), {}) for _, c in parts]


async def test_judge_moderates_only_unseen_parts() -> None:
    client = FakeClient()
    judge = Judge(client, MemoryCache(100), local=False)  # type: ignore[arg-type]
    await judge.results([("text", "one"), ("text", "two")], None)
    await judge.results([("text", "one"), ("text", "two"), ("text", "three")], None)
    assert client.seen == [[("text", "one"), ("text", "two")], [("text", "three")]]


async def test_a_flagged_combined_result_is_not_cached_per_part() -> None:
    client = FakeClient()
    judge = Judge(client, MemoryCache(100), local=False)  # type: ignore[arg-type]
    await judge.results([("text", "fine"), ("image", "bad.png")], None)
    await judge.results([("text", "fine")], None)
    assert client.seen[-1] == [("text", "fine")]  # it could not be known clean


async def test_an_image_by_url_is_neither_cached_nor_read_from_the_cache() -> None:
    client = FakeClient()
    cache = MemoryCache(100)
    url = ("image", "https://example.com/cat.png")
    # a verdict cached by an earlier version (Redis keeps them for days) is not trusted either
    await cache.put_many([(part_key(url, "m"), scored((), {}))])
    judge = Judge(client, cache, local=False)  # type: ignore[arg-type]
    await judge.results([("text", "look"), url], None)
    await judge.results([("text", "look"), url], None)
    data = ("image", "data:image/png;base64,AAAA")
    await judge.results([data], None)
    await judge.results([data], None)
    assert client.seen == [[("text", "look"), url], [url], [data]]


async def test_local_fallback_is_not_cached() -> None:
    client = FakeClient(fail=True)
    judge = Judge(client, MemoryCache(100), local=True)  # type: ignore[arg-type]
    (result,) = await judge.results([("text", "I will kill you")], None)
    assert "violence" in result.flags
    await judge.results([("text", "I will kill you")], None)
    assert len(client.seen) == 2


# --- policy -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("thresholds", "expected"), [
    ({}, ("violence",)),                         # OpenAI's own flag
    ({"violence": 0.95}, ()),                    # our threshold is stricter than the score
    ({"harassment": 0.2}, ("harassment", "violence")),  # lower than OpenAI's
])  # fmt: skip
def test_policy_thresholds(thresholds: dict[str, float], expected: tuple[str, ...]) -> None:
    result = scored({"violence"}, {"violence": 0.9, "harassment": 0.3})
    assert Policy(thresholds, ()).flagged([result, CLEAN]) == expected


def test_zero_tolerance_categories() -> None:
    assert Policy({}, ("sexual/minors",)).zero(("sexual", "sexual/minors")) == ("sexual/minors",)


# --- budget -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [
    ("12ms", 0.012), ("1s", 1.0), ("6m0s", 360.0), ("1m30.5s", 90.5), ("1h", 3600.0),
    ("soon", None),
])  # fmt: skip
def test_go_durations(text: str, seconds: float | None) -> None:
    assert go_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def headers(left_tokens: int, reset: str) -> dict[str, str]:
    return {"x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "499",
            "x-ratelimit-reset-requests": "120ms", "x-ratelimit-limit-tokens": "10000",
            "x-ratelimit-remaining-tokens": str(left_tokens),
            "x-ratelimit-reset-tokens": reset}  # fmt: skip


async def test_budget_unknown_until_told_then_never_exceeded() -> None:
    budget = Budget(max_wait=0.0)
    await budget.acquire(10**9)  # nothing known yet: no throttling
    budget.update(headers(1000, "54s"))  # 9000 used, refills 9000 over 54 s
    await budget.acquire(900)
    assert 0.0 < budget.headroom() < 0.02
    with pytest.raises(BudgetExhausted):
        await budget.acquire(500)


def test_budget_reserve_takes_what_is_there_and_never_more() -> None:
    budget = Budget()
    assert budget.reserve(10**9)  # nothing known yet: no throttling
    budget.update(headers(1000, "54s"))  # 1000 tokens left of 10000
    assert budget.reserve(600)
    assert not budget.reserve(600)  # 400 left (and a few refilled): not enough
    assert budget.reserve(300)
    assert budget.headroom() < 0.02
    only_requests = Budget()  # told of requests only: tokens are not throttled
    only_requests.requests.update("2", "1", "60s", time.monotonic())
    assert only_requests.reserve(10**9)
    assert not only_requests.reserve(1)  # the one request left is taken


async def test_budget_waits_briefly_for_the_refill() -> None:
    budget = Budget(max_wait=1.0)
    budget.update(headers(0, "100ms"))  # 10000 tokens back in 0.1 s
    started = asyncio.get_running_loop().time()
    await budget.acquire(2000)
    assert 0.01 < asyncio.get_running_loop().time() - started < 0.5


async def test_a_request_bigger_than_the_limit_is_refused_at_once() -> None:
    budget = Budget(max_wait=5.0)
    budget.update(headers(10000, "0s"))
    with pytest.raises(BudgetExhausted):
        await budget.acquire(20000)


# --- inline scores and policy signals -------------------------------------------------------------

FLAGGED = {"flagged": True, "categories": {"violence": True},
           "category_scores": {"violence": 0.97}}  # fmt: skip


@pytest.mark.parametrize("document", [
    {"moderation": {"output": {"type": "moderation_result", **FLAGGED}}},
    {"moderation": {"output": {"type": "moderation_results", "results": [FLAGGED]}}},
])  # fmt: skip
def test_inline_output_scores_are_read(document: dict[str, Any]) -> None:
    result = inline_output(document)
    assert result is not None and result.flags == {"violence"}


def test_an_inline_error_means_moderating_the_usual_way() -> None:
    assert inline_output({"moderation": {"output": {"type": "error", "code": "x"}}}) is None


class Upstream:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document, self.sent = document, []  # type: list[Call]

    async def send(self, call: Call) -> Result:
        self.sent.append(call)
        return Result(200, {}, orjson.dumps(self.document), document=self.document)

    async def close(self) -> None:
        return None


async def test_inline_moderation_is_asked_for_and_its_output_scores_used() -> None:
    document = {"choices": [{"message": {"role": "assistant", "content": "bad words"},
                             "finish_reason": "stop"}],
                "moderation": {"output": {"type": "moderation_results", "results": [FLAGGED]}}}
    client = FakeClient()
    judge = Judge(client, MemoryCache(10), local=False)  # type: ignore[arg-type]
    policy = Policy({}, ())
    upstream = Upstream(document)
    pipeline = Pipeline((ModerationCheck(judge, policy, "block", False, True),),
                        (ModerationOutputCheck(judge, policy, "block", False),), (), upstream,
                        AuditLog(MemoryStore()))  # fmt: skip
    call = Call("r", "POST", "/v1/chat/completions", "chat.completions", {}, "127.0.0.1",
                body={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    result = await pipeline.run(call)
    assert upstream.sent[0].body["moderation"]["policy"]["output"] == {"mode": "score"}
    assert client.seen == [[("text", "hi")]]  # the answer was judged by the inline scores
    assert orjson.loads(result.body)["choices"][0]["finish_reason"] == "content_filter"


@pytest.mark.parametrize(("endpoint", "document", "signal"), [
    ("chat.completions", {"choices": [{"finish_reason": "content_filter", "message": {}}]},
     "content_filter"),
    ("chat.completions", {"choices": [{"finish_reason": "stop", "message": {"refusal": "no"}}]},
     "refusal"),
    ("responses", {"status": "incomplete", "incomplete_details": {"reason": "content_filter"}},
     "content_filter"),
    ("responses", {"output": [{"content": [{"type": "refusal", "refusal": "no"}]}]}, "refusal"),
    ("chat.completions", {"choices": [{"finish_reason": "stop", "message": {"content": "fine"}}]},
     None),
])  # fmt: skip
def test_policy_signals_in_answers(endpoint: str, document: dict[str, Any],
                                   signal: str | None) -> None:
    assert answer_signal(endpoint, document) == signal


# --- settings and shutdown ----------------------------------------------------------------------


def test_moderation_concurrency_is_a_setting_and_the_client_is_closed() -> None:
    from types import SimpleNamespace

    from goodstanding.checks.moderation import close_moderation, moderation_checks
    from goodstanding.settings import Settings

    settings = Settings.model_validate({"moderation": {"concurrency": 5}})
    checks, outputs = moderation_checks(settings, SimpleNamespace(base="http://127.0.0.1:9/v1"))
    client = checks[0].judge.client
    assert client.concurrency == 5 and outputs[0].judge.client is client
    closed: list[bool] = []
    client.http.close = lambda: closed.append(True)
    close_moderation(SimpleNamespace(checks=checks, output_checks=outputs))
    assert closed


@pytest.mark.parametrize(("endpoint", "body", "found"), [
    ("chat.completions", {"messages": [{"role": "user", "content": [
        {"type": "file", "file": {"file_id": "file-1"}}]}]}, True),
    ("chat.completions", {"messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]}]}, True),
    ("responses", {"input": [{"role": "user", "content": [
        {"type": "input_file", "file_url": "https://x/a.pdf"}]}]}, True),
    ("responses", {"input": [{"type": "function_call_output", "call_id": "c", "output": "ok"},
                             {"role": "user", "content": [
                                 {"type": "input_file", "file_id": "file-2"}]}]}, True),
    ("chat.completions", {"messages": [{"role": "user", "content": 'what is "file_id": for?'}],
                          "metadata": {"file_id": "mine"}}, False),
    ("chat.completions", {"messages": [{"role": "user", "content": "hi"}]}, False),
])
def test_file_and_audio_parts_are_marked_unread(endpoint, body, found):
    """Moderation cannot read them, the model can: the request is marked (and the tool
    result ranges stay right when both are present)."""
    parts = extract(endpoint, body)
    assert parts.unread is found
    assert all(start >= 0 for start, _ in parts.tool_results)


def test_a_file_field_of_the_wrong_type_is_refused():
    body = {"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": 7}}]}]}
    with pytest.raises(Malformed) as caught:
        extract("chat.completions", body)
    assert caught.value.message == (
        "Invalid type for 'messages[0].content[0].file.file_id': expected a string.")
