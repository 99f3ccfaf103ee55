"""Linear heads over the bag-of-words features: numpy inference of the shipped weights.

All heads (12 content categories, jailbreak, injection) share one vocabulary and one weight
matrix, so scoring a text is one gather and one sum. Scores are Platt-calibrated on the
training script's calibration split (held-out rows never reported); the shipped thresholds apply to calibrated scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from io import BytesIO
from itertools import chain, pairwise, repeat

import numpy as np

from goodstanding.detect.features import LENGTH, WINDOW, windows, words
from goodstanding.detect.native import native

WEIGHTS_FILE = "data/heads.npz"


@dataclass(frozen=True, slots=True)
class Heads:
    names: tuple[str, ...]
    vocab: dict[str, int]
    weights: np.ndarray  # (vocabulary + 1, heads) float32; the last row, all zero, is "unknown"
    bias: np.ndarray  # (heads,)
    scale: np.ndarray  # Platt scaling: p = sigmoid(scale * logit + shift)
    shift: np.ndarray
    thresholds: np.ndarray  # on calibrated scores, chosen on the calibration split
    # Calibration folded into the weights: sigmoid(s z + c) = 0.5 + 0.5 tanh((s z + c) / 2),
    # so scoring is one gather, one sum and one tanh (no overflow to clip either).
    _half_weights: np.ndarray = field(init=False, repr=False, compare=False)
    _half_bias: np.ndarray = field(init=False, repr=False, compare=False)
    _rows: Rows = field(init=False, repr=False, compare=False)
    _table: object | None = field(init=False, repr=False, compare=False)  # _native.HeadsTable

    def __post_init__(self) -> None:
        half = 0.5 * self.scale
        object.__setattr__(self, "_half_weights", (self.weights * half).astype(np.float32))
        object.__setattr__(self, "_half_bias", half * self.bias + 0.5 * self.shift)
        object.__setattr__(self, "_rows", Rows(self.vocab))
        object.__setattr__(self, "_table", self._rows.table(self._half_weights,
                                                            self._half_bias))

    def gated_scores(self, text: str, extra: tuple[str, ...], gate: np.ndarray) -> list[float]:
        """`scores(words(text), extra) * gate` as floats, in C when it is built: no numpy call
        (each costs microseconds with the caches cold). C's tanh may differ from numpy's in a
        score's last bit (numpy's float32 tanh differs between CPUs too); one install uses one."""
        if self._table is None:
            return (self.scores(words(text), extra) * gate).tolist()
        found = self._table.scores(text, self._rows.extra_rows(extra), gate)
        if found is None:  # whitespace outside ASCII: Python's words, C's arithmetic
            found = native.finish_scores(self.half_logits(words(text), extra), gate)
        return found

    def text_half_logits(self, text: str, extra: tuple[str, ...] = ()) -> np.ndarray:
        """`half_logits(words(text), extra)`: the same float32 values to the bit, from the C
        loop when it is built (no Python object per word: _native.c)."""
        if self._table is not None:
            found = self._table.half_logits(text, self._rows.extra_rows(extra))
            if found is not None:
                return np.frombuffer(found, np.float32)
        return self.half_logits(words(text), extra)

    def logits(self, ws: list[str], extra: tuple[str, ...] = ()) -> np.ndarray:
        """Raw logits of one window of words (normalised by sqrt of the feature count)."""
        return self._sum(self.weights, ws, extra, self.bias)

    def scores(self, ws: list[str], extra: tuple[str, ...] = ()) -> np.ndarray:
        """Calibrated scores; long texts score per window and the highest wins."""
        return 0.5 + 0.5 * np.tanh(self.half_logits(ws, extra))

    def half_logits(self, ws: list[str], extra: tuple[str, ...] = ()) -> np.ndarray:
        """Half the calibrated logits (the highest window's): `scores` is 0.5 + 0.5 tanh."""
        w, b = self._half_weights, self._half_bias
        if len(ws) <= WINDOW:
            return self._sum(w, ws, extra, b)
        return np.max([self._sum(w, piece, extra, b) for piece in windows(ws)], axis=0)

    def _sum(self, weights: np.ndarray, ws: list[str], extra: tuple[str, ...],
             bias: np.ndarray) -> np.ndarray:
        idx = self._rows.known(ws, extra)
        if not len(idx):
            return bias.copy()
        # numpy adds the rows one after the other, in `features.tokens` order: the same float32
        # sum, to the bit, as when every token's row was gathered (an unknown's is all zero)
        return weights.take(idx, axis=0).sum(axis=0) * (len(idx) ** -0.5) + bias


class Rows:
    """The weight rows of `features.tokens(ws, extra)` that the vocabulary knows, in order,
    without building the tokens.

    Joining and hashing a string per bigram, then looking each up among 40,000 strings, cost
    more than the rest of the screen together. Here a word's id is its unigram row (a word
    only bigrams know gets an id past the last row; a word the vocabulary lacks, `unknown`),
    a bigram is the pair of its words' ids, and one pass deduplicates all the rows.

    Requires what `features.words` guarantees: no word holds whitespace or "_" (so a bigram
    has one space, and no word equals a pseudo-word such as ``__len3``).
    """

    def __init__(self, vocab: dict[str, int]) -> None:
        self.vocab = vocab
        self.unknown = unknown = len(vocab)
        ids = {token: row for token, row in vocab.items() if " " not in token}
        for token in vocab:
            for part in token.split(" "):
                ids.setdefault(part, unknown + 1 + len(ids))
        self.ids = ids
        self.pairs = {(ids[a], ids[b]): row for token, row in vocab.items()
                      for a, _, b in [token.partition(" ")] if b and " " not in b}
        self.length = [vocab.get(token, unknown) for token in LENGTH]
        self._extra: dict[tuple[str, ...], bytes] = {}

    def extra_rows(self, extra: tuple[str, ...]) -> bytes:
        """The rows of the lexicon's pseudo-words, as the C loop takes them (uint32)."""
        if not extra:
            return b""
        found = self._extra.get(extra)
        if found is None:  # a few hundred combinations in practice; bounded for crafted texts
            if len(self._extra) >= 4096:
                self._extra.clear()
            found = np.array([self.vocab.get(t, self.unknown) for t in extra], np.uint32)
            self._extra[extra] = found = found.tobytes()
        return found

    def table(self, half_weights: np.ndarray, half_bias: np.ndarray):
        """The vocabulary and the known rows' weights as the C loop's flat tables
        (`_native.HeadsTable`), or None without the C module."""
        if native is None:
            return None
        # NUL ends a word in the C table; no word holds one (features.words splits on it)
        ids = {w: i for w, i in self.ids.items() if "\0" not in w}
        pairs = np.array([(a, b, row) for (a, b), row in self.pairs.items()], np.uint32)
        return native.HeadsTable("\0".join(ids).encode("utf-8"),
                     np.fromiter(ids.values(), np.uint32, len(ids)).tobytes(),
                     pairs.tobytes(),
                     np.ascontiguousarray(half_weights[: self.unknown], np.float32).tobytes(),
                     np.ascontiguousarray(half_bias, np.float32).tobytes(),
                     np.array(self.length, np.uint32).tobytes(), self.unknown)

    def known(self, ws: list[str], extra: tuple[str, ...]) -> np.ndarray:
        unknown = self.unknown
        ids = list(map(self.ids.get, ws, repeat(unknown)))
        rows = dict.fromkeys(chain(
            ids,
            map(self.pairs.get, pairwise(ids), repeat(unknown)),
            map(self.vocab.get, extra, repeat(unknown)),
            (self.length[min(len(ws), 64)],),
        ))
        found = np.fromiter(rows, np.intp, len(rows))
        # drops the unknown and the ids of words that only bigrams know (past `unknown`)
        return found[found < unknown]


def save_heads(path, heads: Heads) -> None:
    vocab = sorted(heads.vocab, key=heads.vocab.__getitem__)
    np.savez_compressed(
        path,
        names=np.array(heads.names),
        vocab=np.frombuffer("\n".join(vocab).encode("utf-8"), dtype=np.uint8),
        weights=heads.weights[: len(vocab)].astype(np.float16),
        bias=heads.bias, scale=heads.scale, shift=heads.shift, thresholds=heads.thresholds,
    )


def read_heads(data: bytes) -> Heads:
    with np.load(BytesIO(data), allow_pickle=False) as z:
        vocab = bytes(z["vocab"]).decode("utf-8").split("\n")
        return Heads(
            names=tuple(str(n) for n in z["names"]),
            vocab={w: i for i, w in enumerate(vocab)},
            weights=_with_zero_row(z["weights"].astype(np.float32)),
            bias=z["bias"].astype(np.float32),
            scale=z["scale"].astype(np.float32),
            shift=z["shift"].astype(np.float32),
            thresholds=z["thresholds"].astype(np.float32),
        )


def _with_zero_row(weights: np.ndarray) -> np.ndarray:
    return np.vstack([weights, np.zeros((1, weights.shape[1]), weights.dtype)])


@lru_cache(maxsize=1)
def load_heads() -> Heads:
    return read_heads(resources.files("goodstanding.detect").joinpath(WEIGHTS_FILE).read_bytes())
