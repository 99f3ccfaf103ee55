"""Withheld answers' ids in memory: the ``WithheldStore`` part of ``MemoryStore``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class MemoryWithheld:
    def __init__(self) -> None:
        self.withheld: dict[str, float] = {}  # id -> expires_at

    async def remember_withheld(self, ids: Mapping[str, float], now: float) -> None:
        self.withheld = {i: until for i, until in self.withheld.items() if until > now}
        self.withheld.update(ids)

    async def withheld_among(self, ids: Sequence[str], now: float) -> set[str]:
        return {i for i in ids if self.withheld.get(i, 0.0) > now}
