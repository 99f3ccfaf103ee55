"""Results for a list of parts: the cache first, one batched upstream call for the rest.

An image sent by its http(s) URL is never taken from the cache nor put in it: the URL is all
the key could be made of, and whoever serves it can swap the picture once it passed (a
harmless one judged, another one read by the model on every later call). Such an image is
moderated on every call that carries it; a ``data:`` URL is its own content, so it is cached
like text.

Shared by the input check and the output check. ``on_error: local`` is applied here (the
detectors stand in for the endpoint); ``fail_closed`` and ``fail_open`` are the checks' to
apply, because a refused input and a withheld answer are different verdicts.
"""

from __future__ import annotations

from collections.abc import Sequence

from goodstanding.moderation.cache import part_key
from goodstanding.moderation.client import ModerationClient, ModerationFailed
from goodstanding.moderation.local import local_results
from goodstanding.moderation.parts import Part
from goodstanding.moderation.scored import Scored
from goodstanding.stores.base import VerdictCache


class Judge:
    __slots__ = ("cache", "client", "local")

    def __init__(self, client: ModerationClient, cache: VerdictCache, local: bool) -> None:
        self.client, self.cache, self.local = client, cache, local

    async def results(
        self, parts: Sequence[Part], upstream: str | None, remember: bool = True
    ) -> list[Scored]:
        """One result per part; raises ModerationFailed when nothing can judge them."""
        if not remember:
            return (await self._fresh(parts, upstream))[0]
        model = self.client.model
        keys = [_key(part, model) for part in parts]
        found = await self._cached(keys)
        missing = [i for i, result in enumerate(found) if result is None]
        if not missing:
            return found  # type: ignore[return-value]  # no None left
        unseen = [parts[i] for i in missing]
        fresh, remember = await self._fresh(unseen, upstream)
        for i, result in zip(missing, fresh, strict=True):
            found[i] = result
        if remember:
            await self.cache.put_many(self._cacheable(keys, missing, fresh))
        return found  # type: ignore[return-value]

    async def _cached(self, keys: list[bytes | None]) -> list[Scored | None]:
        """The cache's results; None for a part it does not hold or that has no key."""
        if None not in keys:  # most calls: no image by URL
            return await self.cache.get_many(keys)  # type: ignore[arg-type]
        kept = [i for i, key in enumerate(keys) if key is not None]
        found: list[Scored | None] = [None] * len(keys)
        if kept:
            cached = await self.cache.get_many([keys[i] for i in kept])  # type: ignore[misc]
            for i, result in zip(kept, cached, strict=True):
                found[i] = result
        return found

    async def _fresh(self, parts: Sequence[Part], upstream: str | None) -> tuple[list[Scored], bool]:
        """Results from the endpoint (cacheable), else from the local detectors (not)."""
        try:
            return await self.client.classify(parts, upstream), True
        except ModerationFailed:
            fallback = await local_results(parts) if self.local else None
            if fallback is None:
                raise
            return fallback, False

    @staticmethod
    def _cacheable(
        keys: Sequence[bytes | None], missing: list[int], fresh: list[Scored]
    ) -> list[tuple[bytes, Scored]]:
        # a combined (multimodal) result that flagged cannot say which part it was: keep
        # only clean combined results, which hold for every part
        combined = len(fresh) > 1 and all(r is fresh[0] for r in fresh)
        if combined and fresh[0].flags:
            return []
        # an image by URL has no key (module docstring)
        return [(key, result) for i, result in zip(missing, fresh, strict=True)
                if (key := keys[i]) is not None]


def _key(part: Part, model: str) -> bytes | None:
    """The part's cache key; None for an image sent by its http(s) URL (module docstring)."""
    kind, content = part
    if kind == "image" and not content.startswith("data:"):
        return None
    return part_key(part, model)
