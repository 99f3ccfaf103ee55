"""Scripted failures, requested with `[[fault:NAME]]` in the newest user text.

Error faults answer at once with OpenAI's envelope and status. The others change the answer
itself and are handled by the chat and responses modules: `slow:MS` (sleep, then answer),
`content_filter`, `refusal`, `disconnect`, `truncate` (a stream that ends cleanly after a few
chunks, without its final event) and `bad_usage` (Chat: a `usage` whose counts are a
string, 2**40 and a float, as a broken OpenAI-compatible provider might send). `429-once:ID` answers 429 (with `retry-after:
1`) to the first request carrying that ID and normally afterwards: what a client's retry needs.
`retry-after:VALUE` answers 429 with that `retry-after` header as it is (a broken provider's
`-5`); `html` answers 200 with an HTML page, as a proxy in front of the API may.
"""

from __future__ import annotations

import asyncio

from .http import Reply, envelope
from .ratelimit import Window

ANSWER_FAULTS = frozenset({"content_filter", "refusal", "disconnect", "truncate", "bad_usage"})
REFUSAL = "I'm sorry, but I can't help with that. (goodstanding simulated refusal)"
DISCONNECT_AFTER = 3  # chunks sent before the connection is cut

_INVALID_PROMPT = (
    "Invalid prompt: your prompt was flagged as potentially violating our usage policy. "
    "Please try again with a different prompt: "
    "https://platform.openai.com/docs/guides/reasoning#advice-on-prompting"
)
_CYBER = (
    "This request has been flagged for potentially high-risk cyber activity and was blocked "
    "by our cybersecurity safeguards. (goodstanding simulated cyber_policy)"
)
_BIO = (
    "This request has been flagged for potentially high-risk biological content and was "
    "blocked by our safeguards. (goodstanding simulated bio_policy)"
)


def error_reply(
    fault: str | None, model: str, window: Window, seen: set[str] | None = None
) -> Reply | None:
    """The error this fault answers with, or None when the fault is not an error fault.

    `seen` holds the `429-once:` ids already answered with a 429 (the simulator's state)."""
    if fault is None or fault in ANSWER_FAULTS or fault.startswith("slow:"):
        return None
    if fault.startswith("429-once:"):
        if seen is None or fault in seen:
            return None
        seen.add(fault)
        fault = "429"
    if fault == "429":
        return envelope(
            429,
            f"Rate limit reached for {model} in organization org-simulated on requests per min "
            "(RPM): Limit 5000, Used 5000, Requested 1. Please try again in 1s. "
            "(goodstanding simulated fault)",
            type="requests",
            code="rate_limit_exceeded",
            headers=window.exhausted(),
        )
    if fault == "insufficient_quota":  # the organization's credit or budget is exhausted
        return envelope(
            429,
            "You exceeded your current quota, please check your plan and billing details. "
            "(goodstanding simulated fault)",
            type="insufficient_quota",
            code="insufficient_quota",
        )
    if fault.startswith("retry-after:"):
        return envelope(429, "Rate limit reached. (goodstanding simulated fault)",
                        type="requests", code="rate_limit_exceeded",
                        headers={"retry-after": fault[12:]})
    if fault == "html":
        return Reply(200, b"<html><body>502 Bad Gateway</body></html>", {},
                     b"text/html; charset=utf-8")
    if fault == "500":
        return envelope(
            500,
            "The server had an error while processing your request. Sorry about that! "
            "(goodstanding simulated fault)",
            type="server_error",
            code="server_error",
        )
    if fault == "503":
        return envelope(
            503,
            "The server is overloaded or not ready yet. (goodstanding simulated fault)",
            type="server_error",
            code="service_unavailable",
        )
    return _policy(fault)


def _policy(fault: str) -> Reply:
    messages = {"invalid_prompt": _INVALID_PROMPT, "cyber_policy": _CYBER, "bio_policy": _BIO}
    if fault in messages:
        return envelope(400, messages[fault], code=fault)
    if fault == "moderation_blocked":  # what the Images API answers
        return envelope(
            400,
            "Your request was rejected by the safety system. (goodstanding simulated fault)",
            type="image_generation_user_error",
            code=fault,
        )
    return envelope(
        400,
        f"Unknown simulated fault {fault!r}; use 429, 429-once:ID, retry-after:VALUE, "
        "insufficient_quota, 500, 503, html, slow:MS, invalid_prompt, cyber_policy, bio_policy, "
        "moderation_blocked, content_filter, refusal, disconnect, truncate or bad_usage.",
        code="unknown_fault",
    )


async def delay(fault: str | None) -> None:
    """Sleep for `slow:MS` before answering."""
    if fault and fault.startswith("slow:"):
        try:
            ms = max(0, int(fault[5:]))
        except ValueError:
            ms = 0
        await asyncio.sleep(ms / 1000)
