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
from goodstanding.errors import GatewayError

POLICY_CODES = frozenset({"invalid_prompt", "cyber_policy", "bio_policy", "moderation_blocked"})


class UpstreamPolicy:
    name = "upstream_policy"

    async def finish(self, call: Call, error: GatewayError | None) -> None:
        if error is not None or call.decision == "output_withheld":
            return  # our own refusal or withholding is not OpenAI's
        code = call.notes.get("upstream_error")
        if code in POLICY_CODES:
            call.response_headers["x-should-retry"] = "false"
        else:
            code = call.notes.get("upstream_signal") or answer_signal(call.notes.get("answer"))
        if code is None:
            return
        call.offences.append(Offence(f"upstream_{code}", (code,)))
        call.reasons.append(f"upstream:{code}")


def answer_signal(document: Any) -> str | None:
    """``content_filter`` or ``refusal`` when a whole answer carries one of them."""
    if not isinstance(document, dict):
        return None
    for choice in document.get("choices") or ():  # Chat
        if choice.get("finish_reason") == "content_filter":
            return "content_filter"
        if (choice.get("message") or {}).get("refusal"):
            return "refusal"
    details = document.get("incomplete_details")  # Responses
    if isinstance(details, dict) and details.get("reason") == "content_filter":
        return "content_filter"
    for item in document.get("output") or ():
        for part in item.get("content") or () if isinstance(item, dict) else ():
            if isinstance(part, dict) and part.get("type") == "refusal":
                return "refusal"
    return None
