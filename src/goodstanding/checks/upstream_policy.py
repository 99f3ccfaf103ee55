"""OpenAI's own policy answers, recorded as the end user's offences (reference §4.4).

When OpenAI refuses a prompt (400 ``invalid_prompt``, ``cyber_policy``, ``bio_policy``,
``moderation_blocked``), cuts an answer (``finish_reason: content_filter``) or the model
refuses, our organization's standing has already paid for it: the end user who caused it gets
a strike. These answers are passed back as they are, with ``x-should-retry: false`` on the
errors, since sending the same prompt again only adds to the count.

A finisher, not a check: it runs after the answer, before the strikes finisher (order is set
in ``build_pipeline``).
"""

from __future__ import annotations

from typing import Any

from goodstanding.call import Call, Offence
from goodstanding.endpoints import endpoint_of
from goodstanding.errors import GatewayError

POLICY_CODES = frozenset({"invalid_prompt", "cyber_policy", "bio_policy", "moderation_blocked"})


class UpstreamPolicy:
    name = "upstream_policy"

    async def finish(self, call: Call, error: GatewayError | None) -> None:
        if error is not None or call.decision == "output_withheld":
            return  # our own refusal or withholding is not OpenAI's
        upstream = call.upstream
        code = upstream.error_code
        if code in POLICY_CODES:
            call.response_headers["x-should-retry"] = "false"
        else:
            code = upstream.signal or answer_signal(call.endpoint, upstream.document)
        if code is None:
            return
        call.offences.append(Offence(f"upstream_{code}", (code,)))
        call.reasons.append(f"upstream:{code}")


def answer_signal(endpoint: str, document: Any) -> str | None:
    """``content_filter`` or ``refusal`` when a whole answer carries one of them."""
    if not isinstance(document, dict):
        return None
    return endpoint_of(endpoint).answer_signal(document)
