"""``POST /v1/moderations`` of the configured upstream, one batched call per request or less.

All unseen parts of one request go in one call. Texts alone go as an array of strings, which
OpenAI answers with one result per string (each can be cached on its own), and concurrent
requests share such calls (``batch.py``); when images are among them the parts go alone, as
one multimodal array, which OpenAI answers with one combined result. Each attempt is bounded by ``timeout``; a failed attempt (timeout, transport error,
5xx, 429) is retried once, then the caller's ``on_error`` decides.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from goodstanding import metrics
from goodstanding.microbatch import Batcher, estimate_tokens
from goodstanding.moderation.budget import Budget, BudgetExhausted, go_duration
from goodstanding.moderation.parts import Part
from goodstanding.moderation.scored import Scored, from_result
from goodstanding.moderation.transport import Client

log = logging.getLogger("goodstanding.moderation")

CALLS = metrics.counter(
    "goodstanding_moderation_calls_total", "Calls to the upstream moderation endpoint.",
    ("outcome",),
)
ATTEMPTS = 2  # bounded timeout, retried once


class ModerationFailed(Exception):
    """No moderation answer: outage, timeout, or no budget left. Never a policy outcome.
    ``key_refused``: the upstream refused the gateway's own key (401/403), which the operator
    must fix (the same alert as for generation calls)."""

    def __init__(self, why: str, key_refused: bool = False) -> None:
        super().__init__(why)
        self.key_refused = key_refused


class ModerationClient:
    def __init__(
        self,
        base_url: str,
        key_for: Callable[[str | None], str | None],
        model: str,
        timeout: float,
        max_wait: float = 2.0,
        concurrency: int = 2,
        project_for: Callable[[str | None], str | None] | None = None,
    ) -> None:
        self._project_for = project_for
        self.url = base_url.rstrip("/") + "/moderations"
        self.http = Client(self.url)  # leaner than aiohttp per call (transport.py)
        self._key_for = key_for
        self.model = model
        self.timeout = timeout
        self.max_wait = max_wait
        self.concurrency = concurrency
        self.budgets: dict[str | None, Budget] = {}
        self.batchers: dict[str | None, Batcher] = {}
        self._heads: dict[str | None, bytes] = {}  # encoded request headers, per upstream key

    def budget(self, upstream: str | None) -> Budget:
        budget = self.budgets.get(upstream)
        if budget is None:
            budget = Budget(upstream or "default", self.max_wait)
            self.budgets[upstream] = budget
        return budget

    def close(self) -> None:
        """Close the kept-alive connections (at shutdown)."""
        self.http.close()

    async def classify(self, parts: Sequence[Part], upstream: str | None = None) -> list[Scored]:
        """One result per part; with images, the one combined result repeated for each part."""
        if len(parts) == 1 and parts[0][0] == "text" or all(kind == "text" for kind, _ in parts):
            batcher = self.batchers.get(upstream)
            if batcher is None:
                batcher = Batcher(lambda texts: self._texts(texts, upstream), self.concurrency)
                self.batchers[upstream] = batcher
            return await batcher.classify([content for _, content in parts])
        payload = orjson.dumps({"model": self.model, "input": _input(parts)})
        results = await self._post(payload, _tokens(parts), upstream)
        if not results:
            raise ModerationFailed("moderation answered no result")
        return [from_result(results[0])] * len(parts)

    async def _texts(self, texts: list[str], upstream: str | None) -> list[Scored]:
        """One call for some texts (maybe several requests'), one result per text."""
        payload = orjson.dumps({"model": self.model, "input": texts})
        results = await self._post(payload, estimate_tokens(texts), upstream)
        if len(results) != len(texts):
            raise ModerationFailed("moderation answered a different number of results")
        return list(map(from_result, results))

    def _headers(self, upstream: str | None) -> bytes:
        key = self._key_for(upstream)
        if key is None:  # never "Bearer None"
            raise ModerationFailed(f"no upstream key for '{upstream or 'default'}'")
        headers = self._heads.get(key)
        if headers is None:
            if len(self._heads) >= 64:
                self._heads.clear()
            fields = {"authorization": f"Bearer {key}", "content-type": "application/json"}
            project = self._project_for(upstream) if self._project_for else None
            if project:  # the named key's OpenAI project (upstream.keys.NAME.project)
                fields["openai-project"] = project
            headers = self._heads[key] = Client.encode(fields)
        return headers

    async def _post(self, payload: bytes, tokens: int, upstream: str | None) -> list[Any]:
        budget = self.budget(upstream)
        why = "no attempt"
        for _ in range(ATTEMPTS):
            try:
                if not budget.reserve(tokens):
                    await budget.acquire(tokens)
            except BudgetExhausted as exc:
                CALLS.inc("budget_exhausted")
                raise ModerationFailed(str(exc)) from None
            # the key is read after any wait for budget: a rotated key is already in use
            headers = self._headers(upstream)
            try:
                response = await self.http.post(headers, payload, self.timeout)
                budget.update(response.headers)
                if response.status == 200:
                    CALLS.inc("ok")
                    return _results(response.body)
                why = f"HTTP {response.status}"
                if response.status == 429:
                    wait = go_duration(response.headers.get("retry-after", "1") + "s")
                    budget.exhausted_for(wait or 1.0)
                elif response.status < 500:  # our request is wrong: retrying cannot help
                    break
            except (TimeoutError, OSError, ValueError) as exc:
                why = type(exc).__name__
            CALLS.inc("failed")
        log.warning("moderation unavailable: %s", why)
        raise ModerationFailed(why, key_refused=why in ("HTTP 401", "HTTP 403"))


def _input(parts: Sequence[Part]) -> list[Any]:
    return [
        {"type": "text", "text": content}
        if kind == "text"
        else {"type": "image_url", "image_url": {"url": content}}
        for kind, content in parts
    ]


def _tokens(parts: Sequence[Part]) -> int:
    # about four characters per token; images are not counted in TPM as far as OpenAI says
    return estimate_tokens([content for kind, content in parts if kind == "text"])


def _results(body: bytes) -> list[Any]:
    document = orjson.loads(body)
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, list):
        raise ValueError("no results")  # noqa: TRY004 — caught with the JSON errors
    return results
