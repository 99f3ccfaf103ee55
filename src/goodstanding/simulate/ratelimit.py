"""OpenAI-style `x-ratelimit-*` headers from a one-minute window.

The simulator never refuses on its own (faults do that); it only reports a window that fills
and resets like OpenAI's, so the gateway's header parsing and backpressure see realistic values.
"""

from __future__ import annotations

import time


def go_duration(seconds: float) -> str:
    """Seconds as a Go duration string, the way OpenAI writes resets: `12ms`, `1s`, `6m0s`."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


class Window:
    def __init__(self, requests_per_min: int, tokens_per_min: int) -> None:
        self.limit_requests = requests_per_min
        self.limit_tokens = tokens_per_min
        self.reset()

    def reset(self) -> None:
        self.started = time.monotonic()
        self.requests = 0
        self.tokens = 0

    def take(self, tokens: int) -> dict[str, str]:
        """Count one request of `tokens` tokens and return the headers describing the window."""
        now = time.monotonic()
        if now - self.started >= 60:
            self.reset()
        self.requests += 1
        self.tokens += tokens
        return self.headers(now)

    def headers(self, now: float | None = None) -> dict[str, str]:
        elapsed = (now or time.monotonic()) - self.started
        req_left = max(0, self.limit_requests - self.requests)
        tok_left = max(0, self.limit_tokens - self.tokens)
        # OpenAI reports the time until the bucket is full again, which grows with usage
        reset_req = 60 * (self.limit_requests - req_left) / self.limit_requests
        reset_tok = 60 * (self.limit_tokens - tok_left) / self.limit_tokens
        return {
            "x-ratelimit-limit-requests": str(self.limit_requests),
            "x-ratelimit-limit-tokens": str(self.limit_tokens),
            "x-ratelimit-remaining-requests": str(req_left),
            "x-ratelimit-remaining-tokens": str(tok_left),
            "x-ratelimit-reset-requests": go_duration(min(reset_req, 60 - elapsed)),
            "x-ratelimit-reset-tokens": go_duration(min(reset_tok, 60 - elapsed)),
        }

    def exhausted(self) -> dict[str, str]:
        """Headers for a 429: nothing left, full again in a second (matches `retry-after: 1`)."""
        return {
            "x-ratelimit-limit-requests": str(self.limit_requests),
            "x-ratelimit-limit-tokens": str(self.limit_tokens),
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-remaining-tokens": "0",
            "x-ratelimit-reset-requests": "1s",
            "x-ratelimit-reset-tokens": "1s",
            "retry-after": "1",
        }
