"""The one core every request goes through: ``Pipeline.run(call)``.

    admit:   input checks, in the registry's order (``checks.INPUT_ORDER``; those the
             settings switch on): auth → request → key_scope → key_fanout → end_user_token →
             identity → standing → tier → acceptance → geo → limits → continuation →
             distillation → detectors → moderation → ramp; the first refusal stops the call
    send:    the upstream call (the only place money is spent)
    answer:  output checks on the answer (``OUTPUT_ORDER``: detectors_output →
             moderation_output); streams are held back in windows (``stream/``, which sees
             only the checks as one callable)
    finish:  finishers (``FINISH_ORDER``: upstream_policy → strikes → limits, which settles
             token reservations → distillation → continuation, which remembers a withheld
             Responses answer; then the ops finishers) and the audit record, whatever
             happened; for a stream, before its terminal event is passed on (or wherever it
             ends: cut, refused, client gone)

Both shells (server/proxy.py and library/engine.py) enter through ``door.enter``. The check
lists are built once at start-up from the settings (``checks.build_pipeline``) and never
mutated. A check that raises is broken, not a policy decision: the pipeline turns that into a
refusal (fail closed) and logs the check's name, never the request's text.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import orjson

from goodstanding import metrics
from goodstanding.audit import WITHHELD
from goodstanding.call import Call, Result, Verdict
from goodstanding.endpoints import stream_shape
from goodstanding.errors import (
    CheckFailed,
    GatewayError,
    InternalError,
    StoreUnavailable,
    UpstreamUnavailable,
)
from goodstanding.stores import outage
from goodstanding.stream.endings import error_event
from goodstanding.stream.guard import guard_stream
from goodstanding.stream.holdback import StreamGuard

if TYPE_CHECKING:
    from goodstanding.audit import AuditLog
    from goodstanding.upstream import Upstream

log = logging.getLogger("goodstanding.pipeline")
# a stream the upstream ended cleanly without its final event (``finish_stream``)
UNTERMINATED = "stream_unterminated"
AUDIT_BACKLOG_REFUSALS = metrics.counter(
    "goodstanding_audit_backlog_refusals_total",
    "Calls refused because too many audit records were waiting for the database.")


class Check(Protocol):
    """An input check: looks at the call before anything is sent upstream."""

    name: str

    async def check(self, call: Call) -> Verdict: ...


class OutputCheck(Protocol):
    """An output check: looks at answer text (a whole answer, or one stream window)."""

    name: str

    async def check_output(self, call: Call, text: str) -> Verdict: ...


class Finisher(Protocol):
    """Runs once per call after the answer (or refusal): settle reservations, count strikes."""

    name: str

    async def finish(self, call: Call, error: GatewayError | None) -> None: ...


@dataclass(slots=True)
class Pipeline:
    checks: Sequence[Check]
    output_checks: Sequence[OutputCheck]
    finishers: Sequence[Finisher]
    upstream: Upstream
    audit: AuditLog
    window_chars: int = 400
    window_overlap: int = 64
    stream_first: bool = False
    # what a stream needs of the pipeline, and no more (stream/ never sees the pipeline)
    stream_guard: StreamGuard = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.stream_guard = StreamGuard(
            self.check_text if self.output_checks else None,
            self.window_chars, self.window_overlap, self.stream_first)

    async def run(self, call: Call) -> Result:
        """Admit, send, check the answer. Errors surface as GatewayError for the shell."""
        if self.audit.backlogged:
            # the database has not taken our records for a while: serving more calls would
            # grow memory without bound or lose their records, so refuse before anything
            # happens (this refusal cannot be recorded either: counted and logged)
            AUDIT_BACKLOG_REFUSALS.inc()
            log.error("audit backlog full (%d records waiting): refusing %s",
                      self.audit.max_pending, call.request_id)
            raise StoreUnavailable(
                "The gateway cannot record calls right now (its database is unreachable); the "
                "request was not sent. Try again shortly.", reasons=("store_unavailable:audit",))
        try:
            await self.admit(call)
            answer = call.upstream
            answer.sent_at = sent = time.perf_counter()
            try:
                result = await self.upstream.send(call)
            except GatewayError as exc:
                _reasons_of(call, exc)
                raise
            answer.seconds = time.perf_counter() - sent
            self.answered(call, result)
        except Exception as exc:  # noqa: BLE001 - fail() logs a bug with its traceback
            raise await self.fail(call, exc) from None
        except asyncio.CancelledError:
            await self.cancelled(call)
            raise
        if result.stream is not None:  # finished where the stream ends (finish_stream)
            events = guard_stream(self.stream_guard, call, result.stream)
            result.stream = self.finish_stream(call, events)
            return result
        try:
            result = await self.answer(call, result)
        except Exception as exc:  # noqa: BLE001 - fail() logs a bug with its traceback
            raise await self.fail(call, exc) from None
        except asyncio.CancelledError:
            await self.cancelled(call)
            raise
        await self.finish(call, None)
        return result

    async def finish_stream(self, call: Call, events: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """Pass a guarded stream on, finishing the call once, wherever the stream ends.

        The call is finished (its audit record durable: journaled or committed) before the
        stream's terminal event (``[DONE]``, ``response.completed``…) is passed on: a client
        that saw its stream end has a record. If the record cannot be made durable, an error
        event takes the terminal event's place. A stream that ends otherwise (cut, refused,
        a bug, the upstream broken, the client gone) is finished as it stops: an error is
        recorded as the error the client is told (``UpstreamUnavailable``: 502), a client gone
        as the shell noted it (``door.client_left``).
        """
        ends = stream_shape(call.api).ends
        error: GatewayError | None = None
        finished = False
        try:
            async with aclosing(events):
                async for out in events:
                    if ends(out):
                        finished = True
                        try:
                            await self.finish(call, None)
                        except StoreUnavailable as exc:
                            yield error_event(call, exc)
                            return
                    yield out
            if not finished and call.api.stream is not None:
                # the upstream ended the stream cleanly but without its final event ([DONE],
                # response.completed…): the client got what came, the record says it is not
                # the whole answer. Not an error event: a compatible provider that omits
                # [DONE] still works
                call.reasons.append(UNTERMINATED)
        except GatewayError as exc:  # the upstream broke, or a check failed, after the start
            error = exc
            _reasons_of(call, exc)  # a broken stream is an upstream_unavailable incident
            if isinstance(exc, UpstreamUnavailable):
                # forwarded, then failed upstream: what an upstream error answer is (the
                # report counts it forwarded, not answered)
                call.decision = "upstream_error"
            raise
        except Exception as exc:  # noqa: BLE001 - a bug or unreadable event: logged, a 500
            error = self.internal(call, exc)
            raise error from None
        finally:
            if not finished:
                await self._finish_unended(call, error)

    async def _finish_unended(self, call: Call, error: GatewayError | None) -> None:
        try:
            await self.finish(call, error)
        except StoreUnavailable:
            pass  # logged by the audit log; the stream already ended without its terminal event

    @staticmethod
    def answered(call: Call, result: Result) -> None:
        """What the upstream's answer makes of the call's record (the transport only reports)."""
        call.status = result.status
        if result.status >= 400:
            call.upstream.error_code = code = result.error_code
            call.decision = "upstream_error"
            call.reasons.append(f"upstream:{code or result.status}")

    async def fail(self, call: Call, exc: Exception) -> GatewayError:
        """Finish a call that raised and return the error to answer with.

        Every way a call ends runs the finishers (reservations settled, strikes counted) and
        writes its record: a refusal as itself, anything unexpected (a bug) as a logged 500
        ``internal_error`` that never shows the client a traceback.
        """
        error = exc if isinstance(exc, GatewayError) else self.internal(call, exc)
        await self.finish(call, error)
        return error

    @staticmethod
    def internal(call: Call, exc: BaseException) -> InternalError:
        """An unexpected exception as the client's 500; logged with its traceback, not text."""
        log.error("unexpected %s on %s", type(exc).__name__, call.request_id, exc_info=exc)
        return InternalError("The gateway failed to handle this request.",
                             reasons=(f"internal_error:{type(exc).__name__}",))

    async def cancelled(self, call: Call) -> None:
        """The call's task was cancelled (shutdown): it still leaves its record."""
        error = InternalError("The request was cancelled before it completed.",
                              reasons=("cancelled",))
        await asyncio.shield(self.finish(call, error))

    async def admit(self, call: Call) -> None:
        for check in self.checks:
            verdict = await self._run_check(check, call)
            if verdict.silent:
                continue
            call.record(verdict)
            if verdict.refused:
                assert isinstance(verdict.error, GatewayError)
                raise verdict.error

    async def _run_check(self, check: Check, call: Call) -> Verdict:
        try:
            return await check.check(call)
        except GatewayError:
            raise
        except Exception as exc:
            if outage(exc):  # the database is down: a clear 503, not a "broken check"
                metrics.STORE_ERRORS.inc("database")
                log.error("check %s: database unreachable (%s)", check.name, type(exc).__name__)
                error: GatewayError = StoreUnavailable(
                    "The gateway's database is unreachable; the request was not sent.",
                    reasons=("store_unavailable:database",))
                return Verdict(check.name, "refuse", error.reasons, error)
            # fail closed: a broken check refuses the request instead of waving it through
            log.exception("check %s failed; refusing request %s", check.name, call.request_id)
            error = CheckFailed(
                f"The request could not be checked ({check.name}); it was not sent.",
                reasons=(f"check_failed:{check.name}",),
            )
            return Verdict(check.name, "refuse", error.reasons, error)

    async def check_text(self, call: Call, text: str) -> Verdict | None:
        """Run the output checks on some answer text; return the first non-pass verdict."""
        found: Verdict | None = None
        for check in self.output_checks:
            try:
                verdict = await check.check_output(call, text)
            except GatewayError:
                raise
            except Exception:
                log.exception("output check %s failed on %s", check.name, call.request_id)
                error = CheckFailed(f"The answer could not be checked ({check.name}).")
                verdict = Verdict(check.name, "refuse", (f"check_failed:{check.name}",), error)
            if verdict.silent:
                continue
            call.record(verdict)
            if verdict.refused:
                return verdict
            if verdict.outcome != "pass":
                found = found or verdict
        return found

    async def answer(self, call: Call, result: Result) -> Result:
        """Output checks on a whole (non-streamed) answer; withhold flagged text."""
        # the parsed answer, for output checks (inline moderation) and finishers (policy signals)
        call.upstream.document = result.document
        if not self.output_checks or result.status != 200:
            return result
        document = result.document
        if not isinstance(document, dict):
            return result
        api = call.api
        try:
            text = api.answer_text(document)
        except (AttributeError, TypeError):
            # JSON, but not OpenAI's shape (``"tool_calls": "x"``, a choice that is a string):
            # a broken OpenAI-compatible upstream, answered as one, not a 500 of ours
            log.warning("upstream answer of unexpected shape for %s", call.request_id)
            raise UpstreamUnavailable("The upstream API gave an invalid answer.") from None
        if not text:
            return result
        verdict = await self.check_text(call, text)
        if verdict is not None and verdict.refused:
            call.decision = "output_withheld"
            result.body = orjson.dumps(api.withhold(document))
        return result

    async def finish(self, call: Call, error: GatewayError | None) -> None:
        if error is not None:
            call.status = error.status
            if call.decision in ("allowed", "flagged"):
                call.decision = "refused" if error.status < 500 else "failed"
            if not call.reasons:
                call.reasons.extend(error.reasons)
        down = isinstance(error, StoreUnavailable)  # the store is known not to answer
        for finisher in self.finishers:
            try:
                await finisher.finish(call, error)
            except StoreUnavailable:
                log.error("finisher %s: store unavailable on %s", finisher.name, call.request_id)
                down = True
            except Exception:
                log.exception("finisher %s failed on %s", finisher.name, call.request_id)
        metrics.observe(call, time.perf_counter())
        # Every call's record is durable before its answer leaves (README, "Durability"): an
        # answer's in the audit journal, or committed (sharing one commit with the calls
        # finishing at the same time) where there is none; a refusal's committed, so that it
        # can be queried at once. While the store is known not to answer, nobody waits for it
        # (the record is written once it is back): a refusal is answered as it is, an answer
        # whose record (or strike) could not be made durable is not given: 503 instead.
        committed = await self.audit.record(call, durable=not down, commit=error is not None,
                                            answer=error is None)
        if error is None and (down or not committed):
            raise StoreUnavailable(
                "The gateway could not record this call (its database did not answer in time); "
                "the answer was withheld. Try again shortly.", reasons=(WITHHELD,))


def _reasons_of(call: Call, exc: GatewayError) -> None:
    """The record names why the upstream ended the call even when a check flagged it before
    (``finish`` adds an error's reasons only to a call without any)."""
    call.reasons.extend(reason for reason in exc.reasons if reason not in call.reasons)
