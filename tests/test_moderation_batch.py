"""Concurrent requests share moderation calls, and each gets its own verdicts back."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from goodstanding import microbatch
from goodstanding.microbatch import Batcher
from goodstanding.moderation.client import ModerationFailed


class SlowEndpoint:
    """Answers each text with itself upper-cased, one call at a time when told to."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.release = asyncio.Event()
        self.fail = False

    async def send(self, texts: list[str]) -> list[Any]:
        self.calls.append(list(texts))
        await self.release.wait()
        if self.fail:
            raise ModerationFailed("down")
        return [text.upper() for text in texts]


async def test_a_lone_request_is_sent_at_once() -> None:
    endpoint = SlowEndpoint()
    endpoint.release.set()
    assert await Batcher(endpoint.send).classify(["a", "b"]) == ["A", "B"]
    assert endpoint.calls == [["a", "b"]]


async def test_requests_waiting_for_a_call_share_the_next_one() -> None:
    endpoint = SlowEndpoint()
    batcher = Batcher(endpoint.send, concurrency=1)
    first = asyncio.ensure_future(batcher.classify(["one"]))
    await asyncio.sleep(0)  # the first call is in flight
    later = [asyncio.ensure_future(batcher.classify([f"t{i}", f"u{i}"])) for i in range(4)]
    await asyncio.sleep(0)
    endpoint.release.set()
    assert await first == ["ONE"]
    assert [await f for f in later] == [[f"T{i}", f"U{i}"] for i in range(4)]
    assert endpoint.calls == [["one"], ["t0", "u0", "t1", "u1", "t2", "u2", "t3", "u3"]]


async def test_requests_of_the_same_turn_share_a_call() -> None:
    endpoint = SlowEndpoint()
    endpoint.release.set()
    batcher = Batcher(endpoint.send, concurrency=4)
    answers = await asyncio.gather(*(batcher.classify([str(i)]) for i in range(3)))
    assert answers == [["0"], ["1"], ["2"]] and endpoint.calls == [["0", "1", "2"]]


async def test_calls_in_flight_are_capped() -> None:
    endpoint = SlowEndpoint()
    batcher = Batcher(endpoint.send, concurrency=2)
    futures = []
    for i in range(5):
        futures.append(asyncio.ensure_future(batcher.classify([str(i)])))
        await asyncio.sleep(0)
    assert batcher.in_flight == 2 and endpoint.calls == [["0"], ["1"]]
    endpoint.release.set()
    assert [await f for f in futures] == [[str(i)] for i in range(5)]
    assert endpoint.calls[2:] == [["2", "3", "4"]]


async def test_a_batch_is_bounded_and_never_splits_a_request(monkeypatch) -> None:
    monkeypatch.setattr(microbatch, "MAX_TEXTS", 3)
    endpoint = SlowEndpoint()
    batcher = Batcher(endpoint.send, concurrency=1)
    first = asyncio.ensure_future(batcher.classify(["x"]))
    await asyncio.sleep(0)
    later = [asyncio.ensure_future(batcher.classify(texts))
             for texts in (["a", "b"], ["c", "d"], ["e"])]  # fmt: skip
    await asyncio.sleep(0)
    endpoint.release.set()
    await asyncio.gather(first, *later)
    assert endpoint.calls == [["x"], ["a", "b"], ["c", "d", "e"]]


async def test_a_failed_call_fails_each_of_its_waiters() -> None:
    endpoint = SlowEndpoint()
    endpoint.fail = True
    batcher = Batcher(endpoint.send, concurrency=1)
    futures = [asyncio.ensure_future(batcher.classify([str(i)])) for i in range(3)]
    endpoint.release.set()
    for future in futures:
        with pytest.raises(ModerationFailed):
            await future
    assert batcher.in_flight == 0


async def test_a_request_that_goes_away_leaves_the_others_their_results() -> None:
    endpoint = SlowEndpoint()
    batcher = Batcher(endpoint.send, concurrency=1)
    first = asyncio.ensure_future(batcher.classify(["x"]))
    await asyncio.sleep(0)
    gone = asyncio.ensure_future(batcher.classify(["gone"]))
    kept = asyncio.ensure_future(batcher.classify(["kept"]))
    await asyncio.sleep(0)
    gone.cancel()
    endpoint.release.set()
    assert await first == ["X"] and await kept == ["KEPT"]
    assert endpoint.calls == [["x"], ["kept"]]
