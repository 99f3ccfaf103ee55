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

from collections.abc import Sequence
from functools import lru_cache
from itertools import compress
from operator import ge
from typing import NamedTuple

import numpy as np

from goodstanding.detect.canonical import pieces as canonical_pieces
from goodstanding.detect.categories import CATEGORIES, INJECTION, JAILBREAK, MINORS
from goodstanding.detect.heads import Heads, load_heads
from goodstanding.detect.lexicon import Lexicon, LexiconHits, load_lexicon
from goodstanding.detect.native import native as _native

STRONG = 0.95  # score floor for a category named by a strong lexicon term
_STRONG = float(np.float32(STRONG))  # as a float32 head score holds it
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


class Screen(NamedTuple):
    """One text's verdict (immutable: screens are cached and shared between requests). A named
    tuple: one is built per screened text, and a frozen dataclass took three times as long."""

    flagged: tuple[str, ...]
    jailbreak: float
    injection: float
    jailbreak_flagged: bool
    injection_flagged: bool
    # the scores in CATEGORIES order, then the jailbreak's and the injection's
    values: tuple[float, ...]

    @property
    def category_scores(self) -> dict[str, float]:
        """Each category's score (a new dict: the input check reads `values` and `flagged`
        only, so most screens never build one)."""
        return dict(zip(CATEGORIES, self.values))

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
        self._no_evidence = evidence_gate(heads.names, frozenset())  # most texts' gate
        # (weak, strong, minor signal) -> (gate, pseudo-words): a few hundred combinations
        self._evidence: dict[tuple[frozenset[str], frozenset[str], bool],
                             tuple[np.ndarray, tuple[str, ...]]] = {}
        self._screener = self._native_screener()

    def screen(self, text: str) -> Screen:
        if self._screener is not None and type(text) is str:
            found = self._screener.screen(text)  # most texts: the whole screen in one C call
            if found is not None:
                return found
        return self.worst([self._scores(piece) for piece in canonical_pieces(text)])

    def _native_screener(self):
        """`screen` in C (`_native.Screener`) with these heads, lexicon and thresholds: the
        same steps as `_scores`, `_floors`, `_minors` and `verdict` below, told what they
        read. None without the C module or its tables."""
        heads, lexicon = self.heads, self.lexicon
        if _native is None or heads._table is None or lexicon._table is None:
            return None
        names = heads.names
        every = (1 << 32) - 1  # a head no lexicon evidence gates
        bit = {c: 1 << i for i, c in enumerate(lexicon._categories)}
        evidence = [every if n not in EVIDENCE else sum(bit.get(c, 0) for c in EVIDENCE[n])
                    for n in names]
        if any(e == 0 for e in evidence) or any(c not in self._index
                                                for c in lexicon._categories):
            return None  # a gate no hit can open, or a floor on no head: Python decides
        vocab, unknown = heads.vocab, heads._rows.unknown
        return _native.Screener(
            heads._table, lexicon._table, Screen, CATEGORIES, self._rows, self._limits,
            (self._jb, self._inj, self._sexual),
            (self.jailbreak_threshold, self.injection_threshold), evidence,
            [self._index[c] for c in lexicon._categories],
            [vocab.get(f"__lex_{c}", unknown) for c in lexicon._categories],
            [vocab.get(f"__lexs_{c}", unknown) for c in lexicon._categories],
            vocab.get("__lex_minor", unknown), (NO_EVIDENCE, _STRONG, MINORS_STRONG, MINORS_RULE))

    def worst(self, pieces: list[tuple[list[float], float]]) -> Screen:
        """One verdict for a text and its decoded payloads: the highest score of each head,
        and of the sexual/minors rule, over the pieces."""
        scores, minors = pieces[0]
        for more, more_minors in pieces[1:]:
            scores, minors = list(map(max, scores, more)), max(minors, more_minors)
        return self.verdict(scores, minors)

    def screen_full(self, texts: Sequence[str]) -> list[Screen]:
        """The full layer (`full.py`) on a batch; raises FullLayerUnavailable (an
        ImportError naming the pip command) without the `full` extra."""
        from goodstanding.detect.full import load_full_layer

        return load_full_layer().screen(texts)

    def moderation_result(self, text: str) -> dict:
        """One result in OpenAI's /v1/moderations format."""
        return moderation_result(self.screen(text), text)

    def _scores(self, text: str) -> tuple[list[float], float]:
        """Head scores in heads order, and the sexual/minors rule's score."""
        hits = self.lexicon.match(text)
        if not hits.weak and not hits.minors_minor:  # most texts
            return self._floors(self.heads.gated_scores(hits.masked, (), self._no_evidence), hits)
        key = (hits.weak, hits.strong, hits.minors_minor)
        found = self._evidence.get(key)
        if found is None:  # the gate and the pseudo-words of these hits, built once
            if len(self._evidence) >= 4096:  # texts crafted to hit every combination
                self._evidence.clear()
            found = self._evidence[key] = (evidence_gate(self.heads.names, hits.weak),
                                           hits.features)
        gate, features = found
        return self._floors(self.heads.gated_scores(hits.masked, features, gate), hits)

    def evidence(self, text: str) -> tuple[np.ndarray, LexiconHits]:
        """Canonical text -> the heads' half calibrated logits and the lexicon's hits
        (what the full layer combines with its embedding heads)."""
        hits = self.lexicon.match(text)
        return self.heads.text_half_logits(hits.masked, hits.features), hits

    def finish(self, p: np.ndarray, hits: LexiconHits) -> tuple[list[float], float]:
        """Calibrated head scores -> gated by the minimum evidence rule, floored by strong
        terms; and the sexual/minors rule's score."""
        return self._floors((p * evidence_gate(self.heads.names, hits.weak)).tolist(), hits)

    def _floors(self, p: list[float], hits: LexiconHits) -> tuple[list[float], float]:
        """Gated scores -> floored by strong terms; and the sexual/minors rule's score."""
        for category in hits.strong:
            i = self._index[category]
            p[i] = max(p[i], _STRONG)
        return p, self._minors(hits, p[self._sexual])

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
        jb, inj = s[self._jb], s[self._inj]
        return Screen(tuple(compress(self._order, map(ge, values, self._limits))),
                      jb, inj, jb >= self.jailbreak_threshold, inj >= self.injection_threshold,
                      (*values, jb, inj))


def moderation_result(r: Screen, text: str) -> dict:
    """A screen of `text` as one result in OpenAI's /v1/moderations format."""
    applied = ["text"] if text else []
    return {
        "flagged": bool(r.flagged),
        "categories": {c: c in r.flagged for c in CATEGORIES},
        "category_scores": dict(r.category_scores),
        "category_applied_input_types": {c: list(applied) for c in CATEGORIES},
    }


def rounded(keys: Sequence[str], values: Sequence[float]) -> dict[str, float]:
    """``{key: round(value, 4)}`` for scores, as records keep them, in C when it is built.

    round(v, 4) goes through a decimal conversion (~0.5 µs a value with cold caches); for a
    score, a float32 in [0, 1], v * 10_000 is exact (24 bits times 14), so rounding that half
    to even and dividing is the same number to the bit."""
    if _native is not None:
        return _native.rounded(keys, values)
    return dict(zip(keys, [round(v * 10_000) / 10_000 for v in values]))


def compiled() -> bool:
    """Whether the C module (`_native.c`) is built: without it every screen runs the Python
    paths, the same verdicts at about three times the CPU inside the gateway."""
    detectors = load_detectors()
    return detectors.heads._table is not None and detectors.lexicon._table is not None


@lru_cache(maxsize=1)
def load_detectors() -> Detectors:
    """The shipped detectors, loaded once per process."""
    return Detectors(load_heads(), load_lexicon())
