"""Results for a list of parts: the cache first, one batched upstream call for the rest.

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
        keys = [part_key(part, model) for part in parts]
        found = await self.cache.get_many(keys)
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
        keys: list[bytes], missing: list[int], fresh: list[Scored]
    ) -> list[tuple[bytes, Scored]]:
        # a combined (multimodal) result that flagged cannot say which part it was: keep
        # only clean combined results, which hold for every part
        combined = len(fresh) > 1 and all(r is fresh[0] for r in fresh)
        if combined and fresh[0].flags:
            return []
        return [(keys[i], result) for i, result in zip(missing, fresh, strict=True)]
