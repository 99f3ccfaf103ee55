"""Moderation of every input before it is sent, and of every answer before it is released.

``ModerationCheck`` (input) moderates every text and image part of a generation request that
was not moderated before, and the windows where two texts meet (``moderation/seams.py``: a
sentence split over two messages is read whole), in one batched call, and refuses flagged input with 400
``content_policy_violation`` naming the categories (never the text). ``flag`` mode forwards
and records. Zero-tolerance categories refuse in either mode and ban at once (an Offence with
``zero_tolerance``; the strikes finisher acts on it).

``ModerationOutputCheck`` judges answer text: a whole answer, or one stream window. The
pipeline withholds a refused answer the way OpenAI does (``content_filter``).

A key's ``policy.moderation`` may change the modes, ``on_error``, thresholds and categories for
its own calls (``moderation/per_key.py``: resolved once per key, one dict lookup per call).

When moderation cannot answer, ``on_error`` decides: ``fail_closed`` refuses (503; nothing is
sent upstream, no answer is released), ``fail_open`` lets the call through and records it,
``local`` lets the offline detectors judge (see ``moderation/local.py``).

What moderation cannot read at all — file bytes, file ids and URLs, audio (the ``FILE`` fields
of ``endpoints/``) — reaches the model unmoderated; ``unreadable`` decides what the gateway
says of it: ``flag`` notes ``unmoderated_input`` among the call's reasons (the audit record),
``refuse`` answers 400 ``invalid_request`` and sends nothing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from goodstanding.call import Call, Offence, Verdict
from goodstanding.errors import (
    ContentPolicyViolation,
    InvalidRequest,
    ModerationUnavailable,
    UpstreamCredentialsRefused,
)
from goodstanding.moderation.cache import MemoryCache
from goodstanding.moderation.client import ModerationClient, ModerationFailed
from goodstanding.moderation.judge import Judge
from goodstanding.moderation.parts import parts_of
from goodstanding.moderation.per_key import Moderated, PerKey
from goodstanding.moderation.policy import Policy
from goodstanding.moderation.scored import Scored, combined, from_result
from goodstanding.stores.base import VerdictCache

if TYPE_CHECKING:
    from goodstanding.settings import Settings

log = logging.getLogger("goodstanding.moderation")

_PASS_IN, _PASS_OUT = Verdict("moderation"), Verdict("moderation_output")
UNMODERATED = "unmoderated_input"
SPLIT = "split_input"  # flagged only in a window across texts, no text alone (seams.py)


def _scores(results: list[Scored], categories: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    best = combined(results)
    return tuple((c, s) for c, s in best.scores if c in categories)


class ModerationCheck:
    name = "moderation"

    def __init__(
        self, judge: Judge, policy: Policy, mode: str, fail_open: bool, inline: bool,
        keys: PerKey | None = None, unreadable: str = "flag",
    ) -> None:
        self.judge, self.inline, self.unreadable = judge, inline, unreadable
        # without per-key resolution (a check built by hand) every key gets these settings
        self.keys = keys or PerKey.fixed(Moderated(mode, mode, fail_open, judge, policy))

    async def check(self, call: Call) -> Verdict:
        body = call.body
        if body is None or not call.generation:
            return _PASS_IN
        if self.inline and not call.stream and call.api.inline_moderation:
            _ask_inline(call, body, self.judge.client.model)
        moderated = self.keys.of(call.key)
        if moderated.input == "off":  # this key's input is not moderated
            return _PASS_IN
        # the text first even when unread parts will refuse: flagged text keeps its own refusal
        # (and its strike) rather than hiding behind the file's
        verdict = await self._moderate(call, moderated)
        if verdict.refused or not parts_of(call).unread:
            return verdict
        if self.unreadable == "refuse":
            error = InvalidRequest(
                "The request carries a file or audio, which moderation cannot read, and this "
                "gateway refuses unmoderated input (moderation.unreadable: refuse).",
                reasons=(UNMODERATED,))  # fmt: skip
            return Verdict(self.name, "refuse", error.reasons, error)
        # a note, not a flag: the file is not suspect, only unread (a flagged call keeps its flag)
        return Verdict(self.name, verdict.outcome, (*verdict.reasons, UNMODERATED),
                       scores=verdict.scores)

    async def _moderate(self, call: Call, moderated: Moderated) -> Verdict:
        found = parts_of(call)
        parts = found.parts
        if not parts:
            return _PASS_IN
        seams = found.seams()
        # the windows across texts go in the same call, cached the same way (moderation/seams.py)
        judged = [*parts, *(("text", window) for _, window in seams)] if seams else parts
        upstream = call.key.upstream if call.key else None
        try:
            results = await moderated.judge.results(judged, upstream)
        except ModerationFailed as exc:
            return self._unavailable(moderated.fail_open, exc)
        categories = moderated.policy.flagged(results)
        if not categories:
            return _PASS_IN
        # flagged only where texts meet: text split to get past moderation, worth telling apart
        split = bool(seams) and not moderated.policy.flagged(results[:len(parts)])
        return self._flagged(call, moderated, categories, _scores(results, categories), split)

    def _flagged(
        self, call: Call, moderated: Moderated, categories: tuple[str, ...],
        scores: tuple[tuple[str, float], ...], split: bool = False,
    ) -> Verdict:
        zero = moderated.policy.zero(categories)
        reasons = tuple(f"moderation:{c}" for c in categories) + ((SPLIT,) if split else ())
        if moderated.input == "flag" and not zero:
            return Verdict(self.name, "flag", reasons, scores=scores)
        # only categories are kept anywhere, never the text (zero-tolerance content included)
        offence = Offence("content_policy_violation", categories, bool(zero))
        error = ContentPolicyViolation(
            f"The request was flagged by moderation ({', '.join(categories)}) and was not "
            "sent.", reasons=reasons)  # fmt: skip
        return Verdict(self.name, "refuse", reasons, error, scores=scores, offences=(offence,))

    def _unavailable(self, fail_open: bool, failed: ModerationFailed) -> Verdict:
        return _unavailable(self.name, "moderation_unavailable", fail_open, failed,
                            "Moderation is unavailable, so the request was not sent. Try again "
                            "shortly.")


def _unavailable(name: str, reason: str, fail_open: bool, failed: ModerationFailed,
                 message: str) -> Verdict:
    """No moderation answer: flagged (failing open) or refused with ``message``. A refused
    upstream key is named too, as for a generation call, so that its alert fires (the
    client's key is fine: the operator must act)."""
    reasons = (reason, UpstreamCredentialsRefused.reason) if failed.key_refused else (reason,)
    if fail_open:
        return Verdict(name, "flag", reasons)
    error = ModerationUnavailable(message, reasons=reasons)
    return Verdict(name, "refuse", error.reasons, error)


def _ask_inline(call: Call, body: dict[str, Any], model: str) -> None:
    """Ask the upstream to score the answer itself (reference §1.5), saving a round trip.

    A client's own ``moderation`` object is its own business and goes upstream as sent, but
    the scores it brings back were asked with the client's model and policy: the gateway does
    not ask inline then, and moderates the answer itself (``ModerationOutputCheck``)."""
    if "moderation" in body:
        return
    body["moderation"] = {"model": model, "policy": {"output": {"mode": "score"}}}
    call.inline_asked = True


def inline_output(document: Any) -> Scored | None:
    """The output side of an inline moderation result, when the answer has a usable one."""
    if not isinstance(document, dict):
        return None
    moderation = document.get("moderation")
    output = moderation.get("output") if isinstance(moderation, dict) else None
    if not isinstance(output, dict):
        return None
    if output.get("type") == "moderation_result":  # Responses
        return from_result(output)
    results = output.get("results")
    if output.get("type") == "moderation_results" and isinstance(results, list) and results:
        return combined([from_result(r) for r in results if isinstance(r, dict)])
    return None  # an error body: moderate the usual way


class ModerationOutputCheck:
    name = "moderation_output"

    def __init__(self, judge: Judge, policy: Policy, mode: str, fail_open: bool,
                 keys: PerKey | None = None) -> None:
        self.judge = judge
        # without per-key resolution (a check built by hand) every key gets these settings
        self.keys = keys or PerKey.fixed(Moderated(mode, mode, fail_open, judge, policy))

    async def check_output(self, call: Call, text: str) -> Verdict:
        if not text or text.isspace():
            return _PASS_OUT
        moderated = self.keys.of(call.key)
        if moderated.output == "off":  # this key's answers are not moderated
            return _PASS_OUT
        # only scores the gateway asked for itself: a client's own ``moderation`` object
        # names the model and policy that scored the answer it brings back
        inline = inline_output(call.upstream.document) if call.inline_asked else None
        if inline is not None:
            results = [inline]
        else:
            upstream = call.key.upstream if call.key else None
            try:
                # a whole answer comes back as history next turn: remember it; windows won't
                results = await moderated.judge.results([("text", text)], upstream,
                                                        not call.stream)
            except ModerationFailed as exc:
                return self._unavailable(moderated.fail_open, exc)
        categories = moderated.policy.flagged(results)
        if not categories:
            return _PASS_OUT
        reasons = tuple(f"output:{c}" for c in categories)
        scores = _scores(results, categories)
        if moderated.output == "flag":
            return Verdict(self.name, "flag", reasons, scores=scores)
        error = ContentPolicyViolation(f"The answer was withheld ({', '.join(categories)}).",
                                       reasons=reasons)  # fmt: skip
        return Verdict(self.name, "refuse", reasons, error, scores=scores)

    def _unavailable(self, fail_open: bool, failed: ModerationFailed) -> Verdict:
        return _unavailable(self.name, "output_moderation_unavailable", fail_open, failed,
                            "The answer could not be moderated and was withheld.")


def close_moderation(pipeline: Any) -> None:
    """Close the moderation client's kept-alive connections (``Gateway.close``)."""
    for check in (*pipeline.checks, *pipeline.output_checks):
        if isinstance(check, ModerationCheck | ModerationOutputCheck):
            check.judge.client.close()


def moderation_checks(
    settings: Settings, upstream: Any, cache: VerdictCache | None = None,
) -> tuple[tuple[ModerationCheck, ...], tuple[ModerationOutputCheck, ...]]:
    """The moderation checks for ``build_pipeline``, calling the upstream's moderation endpoint."""
    moderation = settings.moderation
    if moderation.input == "off" and moderation.output == "off":
        return (), ()
    client = ModerationClient(
        upstream.base, settings.upstream_key, moderation.model, moderation.timeout,
        moderation.queue_wait, moderation.concurrency,
        project_for=settings.keyring.project)  # fmt: skip
    cache = cache if cache is not None else MemoryCache(moderation.cache_size)  # or Redis
    # one judge per on_error: local (the detectors stand in), sharing the client and the cache
    judges = {local: Judge(client, cache, local) for local in (False, True)}
    keys = PerKey(moderation, judges)  # a key's policy.moderation, resolved once per key
    default = keys.default
    checks, outputs = [], []
    # a direction the gateway does not moderate has no check (a key cannot turn it on)
    if moderation.input != "off":
        checks.append(ModerationCheck(default.judge, default.policy, moderation.input,
                                      default.fail_open, moderation.inline, keys,
                                      moderation.unreadable))
    if moderation.output != "off":
        outputs.append(ModerationOutputCheck(default.judge, default.policy, moderation.output,
                                             default.fail_open, keys))
    return tuple(checks), tuple(outputs)
