"""Micro-batching for the full layer: concurrent requests' texts are embedded together.

`microbatch.Batcher` (shared with the moderation client) does the coalescing (texts submitted
in the same turn of the event loop, or while a batch is being scored, go out together; one
request's texts are never split; nothing waits when the scorer is idle). Here a "call" is the full layer scoring a batch
in a worker thread, so the event loop keeps serving while it runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from goodstanding.detect.detectors import Screen
from goodstanding.detect.full import FullLayer, load_full_layer
from goodstanding.microbatch import Batcher


class FullScreener:
    """`await screen(texts)` -> one Screen per text, from a batch shared with other callers."""

    __slots__ = ("_batcher", "layer")

    def __init__(self, layer: FullLayer | None = None, concurrency: int = 1) -> None:
        self.layer = layer or load_full_layer()
        self._batcher = Batcher(self._score, concurrency)

    async def screen(self, texts: Sequence[str]) -> list[Screen]:
        if not texts:
            return []
        return await self._batcher.classify(list(texts))

    async def _score(self, texts: list[str]) -> list[Screen]:
        return await asyncio.to_thread(self.layer.screen, texts)
