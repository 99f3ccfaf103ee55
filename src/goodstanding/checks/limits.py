"""Limits: prompt size, output caps, and rate/token limits per end user, client IP and key.

In order, before anything is sent upstream:

1. a prompt over ``max_prompt_tokens`` → 400 ``prompt_too_long`` (free upper bound first,
   exact count only when the bound is over; see ``limits/tokens.py``);
2. ``max_tokens`` / ``max_completion_tokens`` / ``max_output_tokens`` clamped to
   ``max_output_tokens`` (absent: set to it), so the reservation below is a true bound;
3. one admission across every scope (``limits/policy.py``): 1 request in each request limit,
   ``prompt + output cap`` tokens reserved in each token limit; a full one → 429
   ``rate_limit_exceeded`` with ``retry-after``. Reservations are settled with the actual
   usage by ``finish`` once the answer (or stream) is done.

Every response of a limited call carries OpenAI's ``x-ratelimit-*`` headers for the tightest
request and token limit, so the official SDKs back off on their own.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

from goodstanding import metrics
from goodstanding.call import Call, Verdict
from goodstanding.endpoints.base import choices_asked
from goodstanding.errors import GatewayError, PromptTooLong, RateLimitExceeded
from goodstanding.limits.policy import Policies
from goodstanding.limits.ratelimit import Admission, Limit, Usage, go_duration
from goodstanding.limits.tiers import tier_of
from goodstanding.limits.tokens import count_prompt, upper_bound
from goodstanding.settings import LimitsSettings
from goodstanding.stores.base import CounterStore

_PASS = Verdict("limits")

REFUSED = metrics.counter("goodstanding_limit_refusals_total",
                          "Requests refused by a gateway limit, by limit.", ("limit",))
EXACT_COUNTS = metrics.counter("goodstanding_token_counts_total",
                               "Exact prompt token counts taken (the bound was not enough).")


class LimitsCheck:
    """The check (admission) and the finisher (settlement) of the limits stage."""

    name = "limits"

    def __init__(self, settings: LimitsSettings, counters: CounterStore,
                 clock: Callable[[], float] = time.time) -> None:
        self.policies = Policies(settings)
        self.counters = counters
        self.clock = clock
        self.tier_secret = settings.tier_secret.encode() if settings.tier_secret else None

    async def check(self, call: Call) -> Verdict:
        key = call.key
        api = call.api  # which endpoints are limited, counted, capped: endpoints/
        if key is None or not api.limited:
            return _PASS
        policy = self.policies.policy(key)
        tokens = 0
        exact = False
        body = call.body
        if body is not None and api.counts_tokens:
            tokens = upper_bound(call.raw_body, body)
            if api.prompt_capped and tokens > policy.max_prompt_tokens:
                tokens = await _count(body, call.model, policy.max_prompt_tokens)
                exact = True
                if tokens > policy.max_prompt_tokens:
                    return _too_long(tokens, policy.max_prompt_tokens)
            output = clamp_output(call, policy.max_output_tokens)
        else:
            output = 0
        limits = self.policies.limits(key, policy, self._tier(call), call.end_user,
                                      call.client_ip)
        if not limits:
            return _PASS
        now = self.clock()
        admission = await self.counters.acquire(limits, tokens + output, now)
        if not admission.admitted and admission.denied is not None and \
                admission.denied.tokens and not exact and body is not None:
            # near a token limit: the free bound may be far above the real prompt
            tokens = await _count(body, call.model, None)
            admission = await self.counters.acquire(limits, tokens + output, now)
        headers = tuple(rate_headers(admission.usage).items())
        if not admission.admitted:
            return _refusal(admission, tokens + output, headers)
        if admission.reservation is not None:
            call.reservation = admission.reservation  # settled by this stage's finisher
        return Verdict(self.name, headers=headers) if headers else _PASS

    def _tier(self, call: Call) -> str:
        return tier_of(call, self.tier_secret, self.clock())

    async def finish(self, call: Call, error: GatewayError | None) -> None:
        reservation, call.reservation = call.reservation, None
        if reservation is None:
            return
        if call.tokens_in is not None:
            actual = call.tokens_in + (call.tokens_out or 0)
        elif call.status == 200 and error is None:
            return  # answered without usage (a stream cut short): keep the reservation
        else:
            actual = 0  # refused before upstream, or upstream failed: nothing was used
        await self.counters.settle(reservation, actual, self.clock())


async def _count(body: dict[str, Any], model: str | None, stop_above: int | None) -> int:
    EXACT_COUNTS.inc()
    return await asyncio.to_thread(count_prompt, body, model, stop_above)


def clamp_output(call: Call, cap: int) -> int:
    """Clamp the output fields to ``cap`` (absent: set it); the tokens the answer may take."""
    fields = call.api.output_caps
    body = call.body
    if not fields or body is None:
        return 0
    present = [f for f in fields if body.get(f) is not None]
    if not present:
        body[fields[0]] = cap
        present = [fields[0]]
    for name in present:
        body[name] = min(body[name], cap)
    return min(body[f] for f in present) * choices_asked(body)


def rate_headers(usage: tuple[Usage, ...]) -> dict[str, str]:
    """OpenAI's x-ratelimit-* headers for the tightest request limit and token limit."""
    headers: dict[str, str] = {}
    for tokens, suffix in ((False, "requests"), (True, "tokens")):
        tightest: Usage | None = None
        for item in usage:
            if item.limit.tokens is tokens and (
                    tightest is None or item.remaining < tightest.remaining):
                tightest = item
        if tightest is not None:
            headers[f"x-ratelimit-limit-{suffix}"] = str(tightest.limit.limit)
            headers[f"x-ratelimit-remaining-{suffix}"] = str(tightest.remaining)
            headers[f"x-ratelimit-reset-{suffix}"] = go_duration(tightest.reset)
    return headers


def _reason(limit: Limit) -> str:
    scope, kind, _ = limit.key.split(":", 2)
    return f"rate_limit:{scope}_{kind}"


def _refusal(admission: Admission, cost: int, headers: tuple[tuple[str, str], ...]) -> Verdict:
    limit = admission.denied
    assert limit is not None
    reason = _reason(limit)
    REFUSED.inc(reason[len("rate_limit:"):])
    if math.isinf(admission.retry_after):
        # never passes: in tokens, the request is larger than the limit; in requests, the
        # limit admits none (a limit of 0 set in the configuration)
        message = (f"Request too large for {limit.label}: limit {limit.limit} tokens, "
                   f"requested {cost} tokens. Shorten the prompt or lower max_tokens."
                   if limit.tokens else
                   f"Rate limit of {limit.label} is {limit.limit} requests: no request can "
                   "pass until it is raised.")
        error = RateLimitExceeded(message, headers={"x-should-retry": "false"},
                                  reasons=(reason,))
        return Verdict("limits", "refuse", (reason,), error, headers)
    wait = max(1, math.ceil(admission.retry_after))
    unit = "tokens" if limit.tokens else "requests"
    error = RateLimitExceeded(
        f"Rate limit reached for {limit.label}: limit {limit.limit} {unit}. "
        f"Please try again in {wait}s.",
        headers={"retry-after": str(wait), "retry-after-ms": str(math.ceil(
            admission.retry_after * 1000))}, reasons=(reason,))
    return Verdict("limits", "refuse", (reason,), error, headers)


def _too_long(tokens: int, limit: int) -> Verdict:
    error = PromptTooLong(
        f"The prompt is over this gateway's limit of {limit} tokens "
        f"(at least {tokens} counted). Shorten it.", param="messages",
        reasons=("prompt_too_long",))
    return Verdict("limits", "refuse", ("prompt_too_long",), error)

