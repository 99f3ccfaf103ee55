"""Distillation / bulk extraction per end user (``abuse/distillation.py``): record or throttle.

``signals.distillation.suspected`` / ``.likely`` say what each level does: ``record`` (the call
goes through flagged ``distillation:LEVEL``, with the evidence in its scores: requests in the
window, near-duplicate share, structured share), ``throttle`` (the end user may send one call
per ``60 / throttle_rpm`` seconds, others get 429 with ``retry-after``) or ``refuse`` (429 for
every call until the window ends). Defaults: record at ``suspected``, throttle at ``likely``.
"""

from __future__ import annotations

import math

from goodstanding.abuse.distillation import SIGNALS, Distillation, prompt_and_shape
from goodstanding.call import Call, Verdict
from goodstanding.errors import RateLimitExceeded
from goodstanding.settings import DistillationSettings

_PASS = Verdict("distillation")


class DistillationCheck:
    name = "distillation"

    def __init__(self, settings: DistillationSettings) -> None:
        self.detector = Distillation(settings)
        self.actions = {"suspected": settings.suspected, "likely": settings.likely}

    async def check(self, call: Call) -> Verdict:
        body = call.body
        if not call.generation or call.end_user is None or not isinstance(body, dict):
            return _PASS
        who = f"{call.tenant}\n{call.end_user}"
        text, structured = prompt_and_shape(call.endpoint, body)
        finding = self.detector.observe(who, text, structured)
        if finding is None:
            return _PASS
        action = self.actions[finding.level]
        reasons = (f"distillation:{finding.level}",)
        scores = (("distillation_requests", float(finding.requests)),
                  ("distillation_duplicate_share", finding.duplicate_share),
                  ("distillation_structured_share", finding.structured_share))
        wait = 0.0
        if action == "throttle":
            wait = self.detector.throttle(who)
        elif action == "refuse":
            wait = self.detector.window
        if wait <= 0:
            SIGNALS.inc(finding.level, "record")
            return Verdict(self.name, "flag", reasons, scores=scores)
        SIGNALS.inc(finding.level, action)
        seconds = max(1, math.ceil(wait))
        error = RateLimitExceeded(
            "This end user's traffic looks like bulk extraction (templated prompts at volume); "
            f"it is throttled. Try again in {seconds}s.",
            headers={"retry-after": str(seconds)}, reasons=(*reasons, "distillation_throttled"))
        return Verdict(self.name, "refuse", error.reasons, error, scores=scores)
