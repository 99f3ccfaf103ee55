"""One moderation result, kept small enough to cache a hundred thousand of them.

Only OpenAI's flags and the scores worth deciding on are kept: scores under ``KEEP_SCORE``
are dropped, so a clean text (the common case) shares the single ``CLEAN`` instance and costs
the cache nothing but its key. Thresholds below ``KEEP_SCORE`` are therefore not meaningful.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KEEP_SCORE = 0.01


@dataclass(frozen=True, slots=True)
class Scored:
    flags: frozenset[str] = frozenset()
    # (category, score) for scores of at least KEEP_SCORE
    scores: tuple[tuple[str, float], ...] = ()

    @property
    def clean(self) -> bool:
        return not self.flags and not self.scores


CLEAN = Scored()


def scored(flags: Any, scores: Any) -> Scored:
    """From OpenAI's ``categories`` (name → bool, or a list of names) and ``category_scores``."""
    if isinstance(flags, Mapping):
        flagged = frozenset(name for name, on in flags.items() if on)
    else:
        flagged = frozenset(flags or ())
    kept: tuple[tuple[str, float], ...] = ()
    if isinstance(scores, Mapping):
        kept = tuple((name, float(s)) for name, s in scores.items() if s and s >= KEEP_SCORE)
    if not flagged and not kept:
        return CLEAN
    return Scored(flagged, kept)


def from_result(result: Mapping[str, Any]) -> Scored:
    flags, scores = result.get("categories"), result.get("category_scores")
    # the common case, decided in C: no flag and every score under KEEP_SCORE
    if type(flags) is dict and type(scores) is dict and not any(flags.values()):
        try:
            if not scores or max(scores.values()) < KEEP_SCORE:
                return CLEAN
        except TypeError:  # a score that is not a number: the careful way below
            pass
    return scored(flags, scores)


def combined(items: list[Scored]) -> Scored:
    """The worst of several results: every flag, and the highest score per category."""
    flags: set[str] = set()
    best: dict[str, float] = {}
    for item in items:
        flags.update(item.flags)
        for name, score in item.scores:
            if score > best.get(name, 0.0):
                best[name] = score
    return scored(flags, best)
