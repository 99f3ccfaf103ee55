"""The pipeline core, without a server: order, verdicts, fail closed, output withholding."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from goodstanding.audit import AuditLog
from goodstanding.call import Call, Verdict
from goodstanding.errors import CheckFailed, ContentPolicyViolation
from goodstanding.pipeline import Pipeline, Result
from goodstanding.stores.memory import MemoryStore


class Upstream:
    def __init__(self, document: dict[str, Any] | None = None) -> None:
        self.sent: list[Call] = []
        self.document = document or {"choices": [{"message": {"content": "fine words"}}]}

    async def send(self, call: Call) -> Result:
        self.sent.append(call)
        return Result(200, {}, orjson.dumps(self.document), document=self.document)

    async def close(self) -> None:
        return None


class Fixed:
    def __init__(self, name: str, verdict: Verdict | None = None, crash: bool = False) -> None:
        self.name, self.verdict, self.crash = name, verdict or Verdict(name), crash
        self.seen = 0

    async def check(self, call: Call) -> Verdict:
        self.seen += 1
        if self.crash:
            raise RuntimeError("detector exploded")
        return self.verdict

    async def check_output(self, call: Call, text: str) -> Verdict:
        return await self.check(call)


def make(checks=(), output=(), upstream=None):
    store = MemoryStore()
    pipeline = Pipeline(tuple(checks), tuple(output), (), upstream or Upstream(), AuditLog(store))
    return pipeline, store


def call() -> Call:
    return Call("req_1", "POST", "/v1/chat/completions", "chat.completions", {}, "127.0.0.1")


def refusal(name: str) -> Verdict:
    error = ContentPolicyViolation("flagged: violence", reasons=("violence",))
    return Verdict(name, "refuse", ("violence",), error)


async def test_checks_run_in_order_and_the_first_refusal_stops_the_call():
    first, second, third = Fixed("a"), Fixed("b", refusal("b")), Fixed("c")
    pipeline, store = make([first, second, third])
    with pytest.raises(ContentPolicyViolation):
        await pipeline.run(call())
    assert (first.seen, second.seen, third.seen) == (1, 1, 0)
    assert pipeline.upstream.sent == []
    assert store.audit[0]["decision"] == "refused" and store.audit[0]["reasons"] == ["violence"]


async def test_a_crashing_check_fails_closed():
    pipeline, store = make([Fixed("broken", crash=True)])
    with pytest.raises(CheckFailed):
        await pipeline.run(call())
    assert pipeline.upstream.sent == []
    assert store.audit[0]["reasons"] == ["check_failed:broken"]


async def test_a_flag_lets_the_call_through_and_is_recorded():
    flag = Verdict("m", "flag", ("harassment",), scores=(("harassment", 0.7),))
    pipeline, store = make([Fixed("m", flag)])
    result = await pipeline.run(call())
    await pipeline.audit.flush()
    assert result.status == 200
    assert store.audit[0]["decision"] == "flagged"
    assert store.audit[0]["scores"] == {"harassment": 0.7}


async def test_flagged_output_is_withheld_like_openai_does():
    pipeline, store = make(output=[Fixed("out", refusal("out"))])
    result = await pipeline.run(call())
    await pipeline.audit.flush()
    choice = orjson.loads(result.body)["choices"][0]
    assert choice["finish_reason"] == "content_filter" and choice["message"]["content"] is None
    assert store.audit[0]["decision"] == "output_withheld"


def test_a_verdict_refuses_only_with_an_error():
    with pytest.raises(ValueError):
        Verdict("x", "refuse")
    with pytest.raises(ValueError):
        Verdict("x", "pass", error=CheckFailed("no"))


async def test_a_full_audit_backlog_refuses_new_calls_until_it_drains():
    """The database down for long: memory stays bounded and no call goes out unrecorded."""
    from goodstanding.errors import StoreUnavailable

    class Down(MemoryStore):
        down = True

        async def write_audit(self, records):
            if self.down:
                raise OSError("database unreachable")
            await super().write_audit(records)

    store = Down()
    upstream = Upstream()
    audit = AuditLog(store, batch_size=1000, interval=60, max_pending=3)
    pipeline = Pipeline((), (), (), upstream, audit)
    for _ in range(3):  # answered upstream, but not recorded: the answers are withheld
        with pytest.raises(StoreUnavailable):
            await pipeline.run(call())
    assert len(upstream.sent) == 3 and audit.backlogged
    with pytest.raises(StoreUnavailable) as refused:
        await pipeline.run(call())
    assert refused.value.status == 503 and refused.value.code == "store_unavailable"
    assert len(upstream.sent) == 3  # nothing sent upstream
    with pytest.raises(OSError):
        await audit.flush()  # still down: the records are kept
    store.down = False
    await audit.flush()
    assert len(store.audit) == 3 and not audit.backlogged
    # each record says what the client got (503, withheld), not the upstream's 200
    assert [(r["status"], r["decision"], r["reasons"]) for r in store.audit] == [
        (503, "allowed", ["store_unavailable:audit"])] * 3
    await pipeline.run(call())
    assert len(upstream.sent) == 4
    assert (store.audit[-1]["status"], store.audit[-1]["decision"]) == (200, "allowed")


async def test_an_answer_withheld_because_its_strike_store_was_down_is_recorded_as_withheld():
    """A finisher (strikes) found the store down after the upstream answered: the answer is
    withheld (503), and its record, written once the store is back, says 503, not 200."""
    from goodstanding.errors import StoreUnavailable

    class StrikesDown:
        name = "strikes"

        async def finish(self, call, error):
            raise StoreUnavailable("down", reasons=("store_unavailable:database",))

    store = MemoryStore()
    audit = AuditLog(store, batch_size=1000, interval=60)
    pipeline = Pipeline((), (), (StrikesDown(),), Upstream(), audit)
    with pytest.raises(StoreUnavailable) as withheld:
        await pipeline.run(call())
    assert withheld.value.reasons == ("store_unavailable:audit",)
    await audit.flush()
    [record] = store.audit
    assert (record["status"], record["decision"], record["reasons"]) == (
        503, "allowed", ["store_unavailable:audit"])
