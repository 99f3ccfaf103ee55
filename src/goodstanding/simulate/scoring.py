"""Moderation scores for one input: the local detectors when present, else a small keyword list.

The keyword list is a stand-in so the simulator works before (or without) `goodstanding.detect`:
a few unmistakable phrases per category, nothing subtle. `[[flag:CATEGORY]]` in a text and
`flag-CATEGORY` in an image URL (or in the bytes of a base64 `data:` URL) force a category, so
tests can flag deterministically.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from . import directives

log = logging.getLogger(__name__)

CATEGORIES = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit",
    "illicit/violent", "self-harm", "self-harm/intent", "self-harm/instructions", "sexual",
    "sexual/minors", "violence", "violence/graphic",
)  # fmt: skip
IMAGE_CATEGORIES = frozenset(
    {"self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "violence",
     "violence/graphic"}
)  # fmt: skip
FORCED_SCORE = 0.99
KEYWORD_SCORE = 0.93
BASELINE_SCORE = 0.0001

_KEYWORDS = {
    "harassment": ["you are an idiot", "you're an idiot", "worthless loser", "shut up, loser"],
    "harassment/threatening": ["kill you", "i will hurt you", "i'm going to hurt you"],
    "hate": ["inferior race", "subhuman", "racial purity"],
    "hate/threatening": ["exterminate them all", "ethnic cleansing"],
    "illicit": ["shoplift", "launder money", "counterfeit money", "stolen credit card"],
    "illicit/violent": ["build a bomb", "make a bomb", "untraceable gun", "ghost gun"],
    "self-harm": ["kill myself", "end my life", "cut myself", "hurt myself"],
    "self-harm/intent": ["kill myself", "end my life", "i want to die"],
    "self-harm/instructions": ["how to kill myself", "ways to commit suicide"],
    "sexual": ["explicit sex", "sexual intercourse", "erotic", "porn", "nude photos"],
    "violence": ["kill you", "murder", "stab", "shoot him", "shoot her"],
    "violence/graphic": ["gore", "dismember", "blood everywhere"],
}
# sexual/minors is a rule, never a phrase list: a sexual term together with a minor/age term.
_MINOR = re.compile(r"\b(minor|minors|underage|child|children|kid|kids|teen|teens|"
                    r"(?:[1-9]|1[0-7])[ -]year[ -]old)\b")  # fmt: skip


def _pattern(phrases: list[str]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(re.escape(p) for p in phrases) + r")\b")


_PATTERNS = {category: _pattern(phrases) for category, phrases in _KEYWORDS.items()}


Scores = dict[str, float]
Flags = set[str]
THRESHOLD = 0.5


def keyword_scores(text: str) -> tuple[Scores, Flags]:
    lowered = text.lower()
    hits = {c for c, pattern in _PATTERNS.items() if pattern.search(lowered)}
    if "sexual" in hits and _MINOR.search(lowered):
        hits.add("sexual/minors")
    return {c: KEYWORD_SCORE if c in hits else BASELINE_SCORE for c in CATEGORIES}, hits


@cache
def _detector() -> Callable[[str], Any] | None:
    """The local detectors' scorer, or None when they cannot load (tried once per process)."""
    try:
        from goodstanding.detect.full import load_local_layer

        # the full layer (SPEC §5), else the always-on layer without the `full` extra
        scorer: Callable[[str], Any] = load_local_layer().moderation_result
    except ImportError:
        return None
    except Exception as exc:  # noqa: BLE001 — broken detectors: the keyword list stands in
        log.warning("simulated moderation uses its keyword list: the local detectors failed "
                    "to load (%s: %s)", type(exc).__name__, exc)  # fmt: skip
        return None
    return scorer


def _field(result: Any, name: str) -> Any:
    return result.get(name) if isinstance(result, Mapping) else getattr(result, name, None)


def _detector_scores(text: str) -> tuple[Scores, Flags] | None:
    scorer = _detector()
    if scorer is None:
        return None
    try:
        result = scorer(text)
    except Exception:  # noqa: BLE001 — a simulator must answer; the keyword list stands in
        return None
    scores, flags = _field(result, "category_scores"), _field(result, "categories")
    if not isinstance(scores, Mapping):
        return None
    scores = {c: float(scores.get(c) or 0.0) for c in CATEGORIES}
    if isinstance(flags, Mapping):  # the detectors' own thresholds decide when they say
        return scores, {c for c in CATEGORIES if flags.get(c)}
    return scores, {c for c, score in scores.items() if score >= THRESHOLD}


def text_scores(text: str) -> tuple[Scores, Flags]:
    """Scores and flags for one text: directives removed, `[[flag:…]]` applied on top."""
    d = directives.parse(text)
    clean = directives.strip(text)
    if d.flags:
        clean = re.sub(r"\[\[flag:[^\]]*\]\]", "", clean)
    if clean.strip():
        scores, flags = _detector_scores(clean) or keyword_scores(clean)
    else:  # nothing left to judge (e.g. only a `[[say:…]]`): nothing to flag
        scores, flags = dict.fromkeys(CATEGORIES, 0.0), set()
    for category in d.flags:
        if category in scores:
            scores[category] = FORCED_SCORE
            flags.add(category)
    return scores, flags


def image_scores(url: str) -> tuple[Scores, Flags]:
    """Images are not looked at; a URL containing `flag-violence` (say) flags that category,
    and so does a base64 data URL whose bytes contain it."""
    lowered = url.lower()
    if lowered.startswith("data:") and ";base64," in lowered:
        try:
            lowered += base64.b64decode(url.partition(",")[2]).decode("latin-1").lower()
        except (binascii.Error, ValueError):
            pass  # not base64: only the URL's own text counts
    flags = {c for c in IMAGE_CATEGORIES if f"flag-{c.replace('/', '-')}" in lowered}
    return {c: FORCED_SCORE if c in flags else 0.0 for c in CATEGORIES}, flags
