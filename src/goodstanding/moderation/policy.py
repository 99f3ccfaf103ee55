"""Which categories count as flagged, under the operator's thresholds.

A category with a threshold in ``moderation.thresholds`` is flagged when its score reaches
it; a category without one follows OpenAI's own flag (reference §1.6: OpenAI's thresholds are
tuned for OpenAI, operators may tune theirs). Zero-tolerance categories (``sexual/minors`` by
default) are the ones that ban at once. A category the operator switched off
(``moderation.categories: {violence: off}``) is never counted as flagged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from goodstanding.moderation.scored import Scored


class Policy:
    __slots__ = ("off", "thresholds", "zero_tolerance")

    def __init__(self, thresholds: Mapping[str, float], zero_tolerance: Iterable[str],
                 off: Iterable[str] = ()) -> None:
        self.thresholds = dict(thresholds)
        self.zero_tolerance = frozenset(zero_tolerance)
        self.off = frozenset(off)

    def flagged(self, results: Iterable[Scored]) -> tuple[str, ...]:
        """The flagged categories over all results, sorted; empty when everything is clean."""
        found: set[str] = set()
        thresholds = self.thresholds
        for result in results:
            if result.clean:
                continue
            if not thresholds:
                found.update(result.flags)
                continue
            found.update(c for c in result.flags if c not in thresholds)
            found.update(c for c, s in result.scores if s >= thresholds.get(c, 2.0))
        if self.off:
            found -= self.off
        return tuple(sorted(found))

    def zero(self, categories: Iterable[str]) -> tuple[str, ...]:
        return tuple(c for c in categories if c in self.zero_tolerance)
