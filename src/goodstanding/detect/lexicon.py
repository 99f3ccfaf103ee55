"""Category lexicons matched with Aho-Corasick on canonical text.

One automaton holds every term of every list (`data/lexicon.json`), so a text is scanned once
whatever the number of terms. Matches count only at word boundaries. Allow-list phrases
("kill the process", "shoot a photo", "suicide prevention") mask the terms inside them: the
homonym then neither scores a category nor reaches the classifier as a feature.

`sexual/minors` is a rule, not a model (we never write examples of it): a strong term flags on
its own; otherwise a sexual signal together with a minor/age signal does. It is tuned for
recall because the category is zero-tolerance.
"""

from __future__ import annotations

import itertools
import json
import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from functools import lru_cache
from importlib import resources
from typing import NamedTuple

import ahocorasick
import numpy as np

from goodstanding.detect.canonical import canonical_text
from goodstanding.detect.native import native

_ALTERNATION = re.compile(r"\{([^{}]*)\}")
MINORS = "sexual/minors"


class LexiconHits(NamedTuple):  # a named tuple: one per screened text, built fast
    strong: frozenset[str]  # categories a strong term names on its own
    weak: frozenset[str]  # categories with any term (strong or weak): classifier features
    minors_strong: bool
    minors_sexual: bool
    minors_minor: bool
    masked: str  # the canonical text with allow-listed spans blanked out

    @property
    def features(self) -> tuple[str, ...]:
        """Pseudo-words the classifier learns weights for."""
        if not self.weak and not self.minors_minor:  # most texts (strong implies weak)
            return ()
        names = [f"__lex_{c}" for c in sorted(self.weak)]
        names += [f"__lexs_{c}" for c in sorted(self.strong)]
        if self.minors_minor:
            names.append("__lex_minor")
        return tuple(names)


def expand(pattern: str) -> Iterator[str]:
    """'{kill|end} {a|} job' -> 'kill a job', 'kill job', 'end a job', 'end job'."""
    parts = _ALTERNATION.split(pattern)
    # split() alternates literal text and group bodies: even indexes are literals.
    choices = [[p] if i % 2 == 0 else p.split("|") for i, p in enumerate(parts)]
    for combo in itertools.product(*choices):
        yield " ".join("".join(combo).split())


class Lexicon:
    """An automaton over all lists; `match` is one pass plus a boundary check per hit.

    With the C module, a text (read as UTF-8) is matched by `_native.TermTable` instead: every
    term starts with a letter or digit, so a hit starts where a word does, and the table walks from
    each word's start to the ends a term may have (the automaton walked a trie of 60,000 terms
    one node per character: most of a cold screen's lexicon time). It answers the same hits'
    summary as bits (`_BITS` below), one bit per category.
    """

    def __init__(self, spec: dict) -> None:
        self._automaton = ahocorasick.Automaton()
        tags: dict[str, set[tuple[str, str]]] = {}
        for tag, patterns in _lists(spec):
            for pattern in patterns:
                for term in _canonical_terms(pattern):
                    tags.setdefault(term, set()).add(tag)
        for term, term_tags in tags.items():
            self._automaton.add_word(term, (len(term), tuple(sorted(term_tags))))
        self._automaton.make_automaton()
        self._tags = [tuple(sorted(term_tags)) for term_tags in tags.values()]
        self._categories = sorted({c for term_tags in tags.values() for kind, c in term_tags
                                   if kind in ("strong", "weak")})
        self._sets: dict[int, frozenset[str]] = {0: _NONE}
        self._table = _term_table(list(tags), self._tags, self._categories)

    def match(self, text: str) -> LexiconHits:
        found = self._table.summary(text) if self._table is not None else None
        if found is None:
            return self._match(text)
        strong, weak, minors, masked = found
        if not weak and not minors:  # most texts (a strong term is weak too)
            return LexiconHits(_NONE, _NONE, False, False, False, masked)
        return LexiconHits(self._set(strong), self._set(weak), bool(minors & _MINORS_STRONG),
                           bool(minors & _MINORS_SEXUAL), bool(minors & _MINORS_MINOR), masked)

    def _set(self, bits: int) -> frozenset[str]:
        found = self._sets.get(bits)
        if found is None:  # a few hundred combinations in practice; bounded for crafted texts
            if len(self._sets) >= 4096:
                self._sets = {0: _NONE}
            found = self._sets[bits] = frozenset(
                c for i, c in enumerate(self._categories) if bits >> i & 1)
        return found

    def _match(self, text: str) -> LexiconHits:
        """`match` in Python: the automaton's hits, less those inside an allowed phrase."""
        hits, allowed = self._scan(f" {text} ")
        if allowed:
            hits = _uncovered(hits, allowed)
        return _summarise(hits, _mask(text, allowed) if allowed else text)

    def _scan(self, padded: str) -> tuple[list[tuple[int, int, tuple]], list[tuple[int, int]]]:
        hits, allowed = [], []
        for end, (length, tags) in self._automaton.iter(padded):
            start = end - length + 1
            if padded[start - 1].isalnum() or padded[end + 1].isalnum():
                continue
            if ("allow", "") in tags:
                allowed.append((start - 1, end))  # offsets into the unpadded text
            hits.append((start - 1, end, tags))
        return hits, allowed


# TermTable.summary's minors bits (_native.c's TAG_*; 1 is an allow-listed phrase)
_ALLOW, _MINORS_STRONG, _MINORS_SEXUAL, _MINORS_MINOR = 1, 2, 4, 8
_BITS = {("allow", ""): _ALLOW, ("minors_strong", MINORS): _MINORS_STRONG,
         ("minors_sexual", MINORS): _MINORS_SEXUAL, ("minors_minor", MINORS): _MINORS_MINOR}


def _term_table(terms: list[str], tags: list[tuple[tuple[str, str], ...]],
                categories: list[str]):
    """The C table of `terms` and their tags (`_native.TermTable`), or None: no C module, or a
    term it cannot hold (it takes ASCII terms that start with a letter or digit, as the shipped
    ones all do)."""
    if native is None or not all(t.isascii() and t[:1].isalnum() for t in terms) \
            or len(categories) > 32:  # fmt: skip
        return None
    bit = {c: 1 << i for i, c in enumerate(categories)}
    rows = [(sum(bit[c] for kind, c in t if kind == "strong"),
             sum(bit[c] for kind, c in t if kind in ("strong", "weak")),
             sum(_BITS.get(tag, 0) for tag in t)) for t in tags]
    return native.TermTable("\0".join(terms).encode("ascii"),
                            np.array(rows, np.uint32).tobytes())


def _lists(spec: dict) -> Iterator[tuple[tuple[str, str], Iterable[str]]]:
    for category, lists in spec["terms"].items():
        yield ("strong", category), lists["strong"]
        yield ("weak", category), lists["weak"]
    for kind in ("strong", "sexual", "minor"):
        yield (f"minors_{kind}", MINORS), spec["minors"][kind]
    yield ("allow", ""), spec["allow"]


def _canonical_terms(pattern: str) -> set[str]:
    # Terms go through the same canonicaliser as the texts, or "17yo" (-> "itgo") never matches.
    # A term that folds to one character ("xxx" -> "x") would match every "solve for x": dropped.
    return {t for t in map(canonical_text, expand(pattern)) if len(t) > 1}


def _uncovered(hits: list[tuple[int, int, tuple]],
               spans: list[tuple[int, int]]) -> list[tuple[int, int, tuple]]:
    """The hits no span holds. Each is one binary search in the spans sorted by start, with the
    farthest end reached so far: comparing every hit with every span cost 0.4 s of CPU on a
    text of 4,000 allow-listed phrases (an allowed phrase holds its own hit)."""
    spans = sorted(spans)
    starts = [s for s, _ in spans]
    reach = list(itertools.accumulate((e for _, e in spans), max))
    return [h for h in hits if not (i := bisect_right(starts, h[0])) or reach[i - 1] < h[1]]


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return " ".join("".join(chars).split())


_NONE: frozenset[str] = frozenset()


def _summarise(hits: list[tuple[int, int, tuple]], masked: str) -> LexiconHits:
    if not hits:  # most texts
        return LexiconHits(_NONE, _NONE, False, False, False, masked)
    tags = {tag for _, _, t in hits for tag in t}
    return LexiconHits(
        strong=frozenset(c for kind, c in tags if kind == "strong"),
        weak=frozenset(c for kind, c in tags if kind in ("strong", "weak")),
        minors_strong=("minors_strong", MINORS) in tags,
        minors_sexual=("minors_sexual", MINORS) in tags,
        minors_minor=("minors_minor", MINORS) in tags,
        masked=masked,
    )


@lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    spec = json.loads(
        resources.files("goodstanding.detect").joinpath("data/lexicon.json").read_text("utf-8")
    )
    return Lexicon(spec)
