"""The always-on layer: canonicaliser, lexicons, rules and linear heads, as one `screen` call.

A category's score is the higher of its calibrated head and its lexicon floor (a strong term
such as "pipe bomb" scores `STRONG` on its own). `sexual/minors` comes from a rule: a strong
term, or a minor/age signal together with a sexual one. Decoded payloads (base64, hex, rot13,
URL encoding) are screened too and the highest score wins.

Minimum evidence: a content category's head score counts in full only when the lexicon found
a term of that category's family in the text (after the allow-list masked the safe contexts);
otherwise it is multiplied by `NO_EVIDENCE`, which keeps it under any shipped threshold (all
are >= 0.5). A linear head over n-grams misfires on short ordinary text ("write a story about
a dragon"); a real violation nearly always names something the lexicon knows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import compress
from operator import ge
from types import MappingProxyType

import numpy as np

from goodstanding.detect.canonical import canonicalize
from goodstanding.detect.categories import CATEGORIES, INJECTION, JAILBREAK, MINORS
from goodstanding.detect.features import words
from goodstanding.detect.heads import Heads, load_heads
from goodstanding.detect.lexicon import Lexicon, LexiconHits, load_lexicon

STRONG = 0.95  # score floor for a category named by a strong lexicon term
MINORS_STRONG, MINORS_RULE = 0.99, 0.9
# Zero-tolerance: a minor signal plus a sexual head score of this much flags (recall first).
MINORS_THRESHOLD = 0.35
NO_EVIDENCE = 0.45  # a category head's score without a lexicon term of its family
_VIOLENT = ("violence", "violence/graphic", "harassment/threatening", "hate/threatening",
            "illicit/violent")
_SELF_HARM = ("self-harm", "self-harm/intent", "self-harm/instructions")
# category -> lexicon categories whose terms count as evidence for it
EVIDENCE: dict[str, tuple[str, ...]] = {
    "harassment": ("harassment", "harassment/threatening", "hate", "sexual"),
    "harassment/threatening": ("harassment", *_VIOLENT),
    "hate": ("hate", "hate/threatening"),
    "hate/threatening": ("hate", "hate/threatening"),
    "illicit": ("illicit", "illicit/violent"),
    "illicit/violent": ("illicit", *_VIOLENT),
    "self-harm": _SELF_HARM,
    "self-harm/intent": _SELF_HARM,
    "self-harm/instructions": _SELF_HARM,
    "sexual": ("sexual",),
    "violence": _VIOLENT,
    "violence/graphic": _VIOLENT,
}


@lru_cache(maxsize=4096)
def evidence_gate(names: tuple[str, ...], weak: frozenset[str]) -> np.ndarray:
    """Per head (in `names` order): 1.0 where the lexicon categories `weak` are evidence for
    it (or it is not a content category), NO_EVIDENCE where they are not."""
    return np.array([1.0 if n not in EVIDENCE or weak.intersection(EVIDENCE[n]) else NO_EVIDENCE
                     for n in names], np.float32)


@dataclass(frozen=True, slots=True)
class Screen:
    category_scores: Mapping[str, float]
    flagged: tuple[str, ...]
    jailbreak: float
    injection: float
    jailbreak_flagged: bool
    injection_flagged: bool

    @property
    def any_flagged(self) -> bool:
        return bool(self.flagged) or self.jailbreak_flagged or self.injection_flagged


class Detectors:
    """Shipped heads plus lexicon; build once (`load_detectors`), call from any thread."""

    def __init__(self, heads: Heads, lexicon: Lexicon) -> None:
        self.heads, self.lexicon = heads, lexicon
        self._index = {name: i for i, name in enumerate(heads.names)}
        self.thresholds = {c: float(heads.thresholds[self._index[c]]) for c in CATEGORIES
                           if c != MINORS} | {MINORS: MINORS_THRESHOLD}
        self._jb, self._inj = self._index[JAILBREAK], self._index[INJECTION]
        self._sexual = self._index["sexual"]
        self.jailbreak_threshold = float(heads.thresholds[self._jb])
        self.injection_threshold = float(heads.thresholds[self._inj])
        # precomputed for verdict: CATEGORIES order, the head row of each (-1: the rule)
        self._order = CATEGORIES
        # the rule's score is appended after the heads' scores, at index len(heads.names)
        self._rows = [self._index.get(c, len(heads.names)) for c in CATEGORIES]
        self._limits = [self.thresholds[c] for c in CATEGORIES]

    def screen(self, text: str) -> Screen:
        canonical = canonicalize(text)
        return self.worst([self._scores(piece) for piece in (canonical.text, *canonical.decoded)])

    def worst(self, pieces: list[tuple[np.ndarray, float]]) -> Screen:
        """One verdict for a text and its decoded payloads: the highest score of each head,
        and of the sexual/minors rule, over the pieces."""
        scores, minors = pieces[0]
        for more, more_minors in pieces[1:]:
            scores, minors = np.maximum(scores, more), max(minors, more_minors)
        return self.verdict(scores.tolist(), minors)

    def screen_full(self, texts: Sequence[str]) -> list[Screen]:
        """The full layer (`full.py`) on a batch; raises FullLayerUnavailable (an
        ImportError naming the pip command) without the `full` extra."""
        from goodstanding.detect.full import load_full_layer

        return load_full_layer().screen(texts)

    def moderation_result(self, text: str) -> dict:
        """One result in OpenAI's /v1/moderations format."""
        return moderation_result(self.screen(text), text)

    def _scores(self, text: str) -> tuple[np.ndarray, float]:
        """Head scores in heads order, and the sexual/minors rule's score."""
        hits = self.lexicon.match(text)
        return self.finish(self.heads.scores(words(hits.masked), hits.features), hits)

    def evidence(self, text: str) -> tuple[np.ndarray, LexiconHits]:
        """Canonical text -> the heads' half calibrated logits and the lexicon's hits
        (what the full layer combines with its embedding heads)."""
        hits = self.lexicon.match(text)
        return self.heads.half_logits(words(hits.masked), hits.features), hits

    def finish(self, p: np.ndarray, hits: LexiconHits) -> tuple[np.ndarray, float]:
        """Calibrated head scores -> gated by the minimum evidence rule, floored by strong
        terms; and the sexual/minors rule's score."""
        p *= evidence_gate(self.heads.names, hits.weak)
        for category in hits.strong:
            p[self._index[category]] = max(p[self._index[category]], STRONG)
        return p, self._minors(hits, float(p[self._sexual]))

    @staticmethod
    def _minors(hits: LexiconHits, sexual: float) -> float:
        if hits.minors_strong:
            return MINORS_STRONG
        if not hits.minors_minor:
            return 0.0
        return MINORS_RULE if hits.minors_sexual else sexual

    def verdict(self, s: list[float], minors: float) -> Screen:
        """Head scores (heads order) and the rule's score -> a Screen at these thresholds."""
        s.append(minors)
        values = list(map(s.__getitem__, self._rows))
        scores = dict(zip(self._order, values))
        jb, inj = s[self._jb], s[self._inj]
        return Screen(
            category_scores=MappingProxyType(scores),
            flagged=tuple(compress(self._order, map(ge, values, self._limits))),
            jailbreak=jb,
            injection=inj,
            jailbreak_flagged=jb >= self.jailbreak_threshold,
            injection_flagged=inj >= self.injection_threshold,
        )


def moderation_result(r: Screen, text: str) -> dict:
    """A screen of `text` as one result in OpenAI's /v1/moderations format."""
    applied = ["text"] if text else []
    return {
        "flagged": bool(r.flagged),
        "categories": {c: c in r.flagged for c in CATEGORIES},
        "category_scores": dict(r.category_scores),
        "category_applied_input_types": {c: list(applied) for c in CATEGORIES},
    }


@lru_cache(maxsize=1)
def load_detectors() -> Detectors:
    """The shipped detectors, loaded once per process."""
    return Detectors(load_heads(), load_lexicon())
