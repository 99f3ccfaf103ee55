"""Distillation / bulk extraction per end user and per key (``abuse/distillation.py``).

Each finding is a named signal with its evidence on the record (``call.scores``: requests in
the window, shares, the tier's norm, the timing's CV; examples by hash, never text) and a
policy per signal (``signals.distillation``):

- ``distillation`` (templated prompts): ``suspected`` (default ``record``) and ``likely``
  (default ``throttle``) for an end user; ``key_likely`` (default ``record``) for a whole key;
- ``volume``, ``long_output``, ``timing`` (default ``record`` each).

``record`` leaves the reason on the record (the call goes through); ``throttle`` lets the end
user (or key) send one call per ``60 / throttle_rpm`` seconds, others get 429 with
``retry-after``; ``refuse`` answers 429 for every call until the window ends.

It is also a finisher: after the answer, a long generation from a short prompt (the usage's
tokens) is counted for the call's end user and key.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from goodstanding.abuse.distillation import SIGNALS, Distillation, Finding, action_of
from goodstanding.abuse.sketch import prompt_and_shape
from goodstanding.call import Call, Verdict
from goodstanding.errors import GatewayError, RateLimitExceeded
from goodstanding.settings import DistillationSettings

if TYPE_CHECKING:
    from goodstanding.abuse.shared import Merger

_PASS = Verdict("distillation")
_SEVERITY = {"record": 0, "throttle": 1, "refuse": 2}


class DistillationCheck:
    name = "distillation"

    def __init__(self, settings: DistillationSettings, merger: Merger | None = None) -> None:
        self.detector = Distillation(settings, merger=merger)

    async def check(self, call: Call) -> Verdict:
        body = call.body
        if not call.generation or not isinstance(body, dict):
            return _PASS
        key = call.key
        user = f"{key.tenant}\n{call.end_user}" if key and call.end_user else None
        if user is None and key is None:
            return _PASS
        text, structured = prompt_and_shape(call.endpoint, body)
        tier = call.tier or (key.trust_tier if key else "anonymous")
        findings = self.detector.observe(user, key.id if key else None, tier, text, structured)
        if not findings:
            return _PASS
        return self._verdict(findings, user, key.id if key else None)

    def _action(self, finding: Finding) -> str:
        return action_of(self.detector.settings, finding)

    def _verdict(self, findings: list[Finding], user: str | None, key: str | None) -> Verdict:
        reasons = tuple(f.reason for f in findings)
        scores = tuple((f"{'key_' if f.scope == 'key' else ''}{f.signal}_{name}", float(value))
                       for f in findings for name, value in f.evidence)
        strongest = max(findings, key=lambda f: _SEVERITY[self._action(f)])
        action = self._action(strongest)
        wait = 0.0
        if action == "throttle":
            who = f"u:{user}" if strongest.scope == "user" else f"k:{key}"
            wait = self.detector.throttle(who)
        elif action == "refuse":
            wait = self.detector.window
        if wait <= 0:
            for f in findings:
                SIGNALS.inc(f.reason, "record")
            return Verdict(self.name, "flag", reasons, scores=scores)
        SIGNALS.inc(strongest.reason, action)
        seconds = max(1, math.ceil(wait))
        whose = "end user's" if strongest.scope == "user" else "key's"
        error = RateLimitExceeded(
            f"This {whose} traffic looks like bulk extraction ({strongest.signal}); it is "
            f"throttled. Try again in {seconds}s.",
            headers={"retry-after": str(seconds)}, reasons=(*reasons, "distillation_throttled"))
        return Verdict(self.name, "refuse", error.reasons, error, scores=scores)

    async def finish(self, call: Call, error: GatewayError | None) -> None:
        """Count a long generation from a short prompt (from the answer's usage)."""
        if error is not None or call.tokens_out is None or not call.generation or \
                not self.detector.long_output(call.tokens_in or 0, call.tokens_out):
            return  # most answers: nothing to count, no scope names to build
        key = call.key
        user = f"{key.tenant}\n{call.end_user}" if key and call.end_user else None
        self.detector.output(user, key.id if key else None, call.tokens_in or 0, call.tokens_out)
