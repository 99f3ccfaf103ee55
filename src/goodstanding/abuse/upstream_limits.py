"""Upstream rate-limit discipline: never send what OpenAI would answer with 429.

Every answer from the upstream carries ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``
(resets as Go durations: ``6m0s``, ``1.5s``, ``20ms``). Those figures are the organization's
(per model and upstream key), so one process's picture from its own answers is the shared one:
no store round-trip is needed, and several workers each stay below the same reported remainder.

Before a call is sent it reserves one request and its estimated tokens (the prompt's bytes / 4
plus the output it may ask for, as OpenAI counts TPM) from that picture (``moderation/budget.py``
keeps moderation's own the same way). When the picture says no, the call waits briefly
(``signals.upstream.max_wait``) for the refill and is otherwise answered with our own 429 and a
``retry-after``: OpenAI is not called.

A picture far from its limit (half of it and ``PLENTY`` requests left) is refreshed from the
headers at most every ``REFRESH_S``: in between, this process's own reservations keep it
current, and no other process can spend half the limit in that time. Nearer the limit, every
answer refreshes it. (Reading six headers and publishing the gauge was most of this signal's
cost per call.)

An upstream 429 ``rate_limit_exceeded`` / ``slow_down`` holds that model and key for its
``retry-after`` (or reset) plus random jitter, so the gateway's clients do not hammer it in
step. ``insufficient_quota`` / ``credit_balance_exhausted`` is an operator emergency: the
answer is passed on with ``x-should-retry: false`` (the SDKs do not retry it), the alert rule
``insufficient_quota`` fires (ops), and for ``quota_hold`` the gateway answers the same 429
itself instead of calling OpenAI.
"""

from __future__ import annotations

import math
import random
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING

from goodstanding import metrics
from goodstanding.endpoints.base import choices_asked
from goodstanding.errors import RateLimitExceeded, UpstreamQuotaExhausted
from goodstanding.moderation.budget import Budget, BudgetExhausted, go_duration
from goodstanding.ops.signals import Kind, register

if TYPE_CHECKING:
    from goodstanding.call import Call
    from goodstanding.settings import UpstreamDiscipline

HELD = metrics.counter(
    "goodstanding_upstream_held_total",
    "Calls answered with the gateway's own 429 instead of being sent upstream, by upstream key "
    "and why (requests, tokens, backoff, quota).", ("upstream", "reason"))
HEADROOM = metrics.gauge(
    "goodstanding_upstream_headroom",
    "Share of the upstream rate limit (the tighter of RPM and TPM) still available, by upstream "
    "key, as OpenAI last reported it.", ("upstream",))
HEADROOM.merge = "min"

register(Kind("upstream_held", "calls held back before OpenAI's rate limit", "count", 500.0, 0.2,
              advice="traffic is at the organization's upstream rate limit: raise the usage "
                     "tier or lower the per-key limits"), from_reasons=True)
register(Kind("upstream_quota", "upstream credit or quota exhausted", "count", 1.0, 0.5,
              advice="top up the organization's credit or raise its budget"), from_reasons=True)

QUOTA_CODES = frozenset({"insufficient_quota", "credit_balance_exhausted"})
MAX_PICTURES = 1024  # (upstream key, model) pairs tracked; a flood of model names cannot grow it
REFRESH_S = 0.25  # a picture with plenty left is read from the headers at most this often
PLENTY = 100  # requests left (and half the limit) for a picture to count as far from it


class _Picture(Budget):
    """One (upstream key, model)'s remaining requests and tokens, from OpenAI's headers."""

    __slots__ = ("fresh_until", "held_until")

    def __init__(self, name: str, max_wait: float) -> None:
        super().__init__(name, max_wait)
        self.held_until = 0.0
        self.fresh_until = 0.0  # before this moment an answer's headers need not be read

    def refresh(self, headers: Mapping[str, str], now: float) -> None:
        self.update(headers)
        requests = self.requests.available(now)
        far = requests >= PLENTY and self.headroom() >= 0.5
        self.fresh_until = now + REFRESH_S if far else 0.0

    def _publish(self, now: float) -> None:
        HEADROOM.set(min(self.requests.share(now), self.tokens.share(now)), self.name)


class UpstreamLimits:
    """The live picture per (upstream key, model); ``admit`` before sending, ``observe`` after."""

    def __init__(self, settings: UpstreamDiscipline) -> None:
        self.enabled = settings.enabled
        self.max_wait = settings.max_wait
        self.jitter = settings.jitter
        self.backoff = settings.backoff
        self.quota_hold = settings.quota_hold
        # oldest first; an OrderedDict pops its first entry in O(1), a dict does not
        self.pictures: OrderedDict[tuple[str, str], _Picture] = OrderedDict()
        self.quota_until: dict[str, float] = {}  # by upstream key

    def picture(self, upstream: str, model: str) -> _Picture:
        key = (upstream, model)
        found = self.pictures.get(key)
        if found is None:
            if len(self.pictures) >= MAX_PICTURES:
                self.pictures.popitem(last=False)
            found = self.pictures[key] = _Picture(upstream, self.max_wait)
        return found

    async def admit(self, call: Call, upstream: str) -> None:
        """Reserve this call's share of the upstream limit, or raise our own 429."""
        if not self.enabled or call.method == "GET":
            return
        now = time.monotonic()
        until = self.quota_until.get(upstream, 0.0)
        if until > now:
            HELD.inc(upstream, "quota")
            raise UpstreamQuotaExhausted(
                "The organization's OpenAI credit or quota is exhausted; the gateway's operator "
                "has been alerted. The request was not sent.",
                headers={"retry-after": str(math.ceil(until - now))},
                reasons=("upstream_quota",))
        picture = self.picture(upstream, call.model if isinstance(call.model, str) else "")
        if picture.held_until > now:
            self._refuse(upstream, "backoff", picture.held_until - now)
        tokens = _estimate(call)
        if picture.reserve(tokens):
            return
        wait = max(picture.requests.wait_for(1, now), picture.tokens.wait_for(tokens, now))
        if wait <= self.max_wait:
            try:
                await picture.acquire(tokens)
                return
            except BudgetExhausted:  # the refill came too slowly after all
                pass
        why = "requests" if picture.requests.wait_for(1, now) else "tokens"
        self._refuse(upstream, why, wait)

    def _refuse(self, upstream: str, why: str, wait: float) -> None:
        HELD.inc(upstream, why)
        seconds = max(1, math.ceil(min(wait, 3600.0))) if math.isfinite(wait) else 60
        raise RateLimitExceeded(
            f"The organization's upstream rate limit ({why}) is reached for this model; the "
            f"request was not sent. Try again in {seconds}s.",
            headers={"retry-after": str(seconds)}, reasons=(f"upstream_held:{why}",))

    def observe(self, call: Call, upstream: str, status: int, headers: Mapping[str, str],
                code: str | None) -> None:
        """Believe OpenAI's headers; after a 429, hold the model (or the whole key) back."""
        if not self.enabled or call.method == "GET":
            return
        picture = self.picture(upstream, call.model if isinstance(call.model, str) else "")
        now = time.monotonic()
        if (status != 200 or now >= picture.fresh_until) and (
                "x-ratelimit-remaining-requests" in headers
                or "x-ratelimit-remaining-tokens" in headers):
            picture.refresh(headers, now)
        if status != 429:
            return
        if code in QUOTA_CODES:
            self.quota_until[upstream] = now + self.quota_hold
            return
        wait = _retry_after(headers)
        if wait is None:
            wait = self.backoff
        # jitter: the clients held together must not all come back in the same instant
        picture.held_until = max(picture.held_until,
                                 now + wait * (1.0 + random.uniform(0.0, self.jitter)))


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after-ms")
    if value:
        try:
            return float(value) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return float(value)
        except ValueError:
            pass
    resets = [go_duration(headers[name]) for name in ("x-ratelimit-reset-requests",
                                                      "x-ratelimit-reset-tokens")
              if headers.get(name) and headers.get(name.replace("reset", "remaining")) == "0"]
    found = [r for r in resets if r is not None]
    return max(found) if found else None


def _estimate(call: Call) -> int:
    """Tokens OpenAI counts against TPM for this call: the prompt (≈ bytes / 4) + max output."""
    body = call.body or {}
    most = 0
    for name in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            most = value
            break
    return len(call.raw_body) // 4 + most * choices_asked(body)
