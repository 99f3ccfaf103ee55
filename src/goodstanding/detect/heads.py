"""Linear heads over the bag-of-words features: numpy inference of the shipped weights.

All heads (12 content categories, jailbreak, injection) share one vocabulary and one weight
matrix, so scoring a text is one gather and one sum. Scores are Platt-calibrated on the
training script's validation split; the shipped thresholds apply to calibrated scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from io import BytesIO
from itertools import repeat

import numpy as np

from goodstanding.detect.features import WINDOW, tokens, windows

WEIGHTS_FILE = "data/heads.npz"


@dataclass(frozen=True, slots=True)
class Heads:
    names: tuple[str, ...]
    vocab: dict[str, int]
    weights: np.ndarray  # (vocabulary + 1, heads) float32; the last row, all zero, is "unknown"
    bias: np.ndarray  # (heads,)
    scale: np.ndarray  # Platt scaling: p = sigmoid(scale * logit + shift)
    shift: np.ndarray
    thresholds: np.ndarray  # on calibrated scores, chosen on the validation split

    def logits(self, ws: list[str], extra: tuple[str, ...] = ()) -> np.ndarray:
        """Raw logits of one window of words (normalised by sqrt of the feature count)."""
        toks = tokens(ws, extra)
        # Unknown tokens map to the all-zero last row, so the lookup stays in C.
        unknown = len(self.vocab)
        idx = np.fromiter(map(self.vocab.get, toks, repeat(unknown, len(toks))), np.intp)
        known = len(toks) - int(np.count_nonzero(idx == unknown))
        if not known:
            return self.bias.copy()
        return self.weights.take(idx, axis=0).sum(axis=0) * (known**-0.5) + self.bias

    def scores(self, ws: list[str], extra: tuple[str, ...] = ()) -> np.ndarray:
        """Calibrated scores; long texts score per window and the highest wins."""
        if len(ws) <= WINDOW:
            z = self.logits(ws, extra)
        else:
            z = np.max([self.logits(piece, extra) for piece in windows(ws)], axis=0)
        # clipped: exp overflows past ~88, and filterwarnings=error would turn that into a crash
        return 1.0 / (1.0 + np.exp(-np.clip(self.scale * z + self.shift, -60.0, 60.0)))


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
