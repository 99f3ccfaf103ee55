"""The full layer: the always-on screen plus small heads over a sentence embedding.

Per text (and per decoded payload, as in the always-on layer), each of the 14 heads (12
categories, jailbreak, injection) combines two logits: a tiny MLP over the 256-d WordLlama
embedding of the canonical text (`embedding.py`; one shared hidden layer of 128 ReLU units, a
logit per head), and the always-on head's calibrated logit. The combination is a stacked Platt scaling, `p = sigmoid(a z_embedding + b z_always_on
+ c)`, fitted on the training script's calibration split, pulled towards (0, 1, 0) so that
without evidence the full layer is the always-on layer. Everything after that is the always-on
layer's: minimum lexicon evidence per category family, strong-term floors, the sexual/minors
rule, and thresholds (the full layer's own, chosen on the calibration split).

`screen(texts)` takes a batch: one tokenizer call and one matrix product for all of them.
Numpy only at inference, besides the tokenizer (and safetensors, to read the vectors). The async coalescer that batches concurrent
requests' texts is `FullScreener` (`batched.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from io import BytesIO

import numpy as np

from goodstanding.detect.canonical import canonicalize
from goodstanding.detect.detectors import Detectors, Screen, load_detectors, moderation_result
from goodstanding.detect.embedding import DIM, Embedder, FullLayerUnavailable, load_embedder

log = logging.getLogger("goodstanding.detect")

WEIGHTS_FILE = "data/full.npz"


@dataclass(frozen=True, slots=True)
class FullHeads:
    """A tiny MLP over the embedding (one shared ReLU layer, one logit per head), and the
    stacked calibration that mixes its logit with the always-on head's."""

    names: tuple[str, ...]
    hidden_weights: np.ndarray  # (DIM, hidden); the embedding's standardisation folded in
    hidden_bias: np.ndarray  # (hidden,)
    weights: np.ndarray  # (hidden, heads)
    bias: np.ndarray  # (heads,)
    mix: np.ndarray  # (3, heads): p = sigmoid(mix[0] z_embedding + mix[1] z_always_on + mix[2])
    thresholds: np.ndarray  # on the final (gated) scores, chosen on the calibration split

    def __post_init__(self) -> None:
        hidden, heads = self.weights.shape
        if (self.hidden_weights.shape != (DIM, hidden) or heads != len(self.names)
                or self.mix.shape != (3, heads)):  # fmt: skip
            raise ValueError("full heads: inconsistent shapes")

    def logits(self, embedded: np.ndarray) -> np.ndarray:
        """The embedding heads' raw logits, (n, heads). Row by row: a batched matrix product
        rounds differently with the batch's size, and a text's score must not depend on which
        other texts shared its batch."""
        out = np.empty((len(embedded), len(self.names)), np.float32)
        for i, row in enumerate(embedded):
            hidden = np.maximum(row @ self.hidden_weights + self.hidden_bias, 0.0)
            out[i] = hidden @ self.weights + self.bias
        return out

    def combine(self, embedded: np.ndarray, always_on: np.ndarray) -> np.ndarray:
        """Calibrated scores from embeddings (n, DIM) and always-on calibrated logits (n, H)."""
        z = self.mix[0] * self.logits(embedded) + self.mix[1] * always_on + self.mix[2]
        return 0.5 + 0.5 * np.tanh(0.5 * z)


class FullLayer:
    """Build once (`load_full_layer`); `screen` is thread-safe (nothing is mutated)."""

    def __init__(self, heads: FullHeads, detectors: Detectors, embed: Embedder) -> None:
        if heads.names != detectors.heads.names:
            raise ValueError("full heads and always-on heads disagree on the head names")
        self.heads, self.embed = heads, embed
        # the always-on machinery, deciding at the full layer's thresholds
        self.detectors = Detectors(replace(detectors.heads, thresholds=heads.thresholds),
                                   detectors.lexicon)
        self.thresholds = self.detectors.thresholds
        self.jailbreak_threshold = self.detectors.jailbreak_threshold
        self.injection_threshold = self.detectors.injection_threshold

    def screen(self, texts: Sequence[str]) -> list[Screen]:
        canonical = [canonicalize(t) for t in texts]
        pieces = [[c.text, *c.decoded] for c in canonical]
        flat = [p for ps in pieces for p in ps]
        evidence = [self.detectors.evidence(p) for p in flat]
        always_on = np.array([2.0 * z for z, _ in evidence], np.float32).reshape(len(flat), -1)
        p = self.heads.combine(self.embed(flat), always_on)
        finished = [self.detectors.finish(p[j], hits) for j, (_, hits) in enumerate(evidence)]
        out, i = [], 0
        for ps in pieces:
            out.append(self.detectors.worst(finished[i:i + len(ps)]))
            i += len(ps)
        return out

    def moderation_result(self, text: str) -> dict:
        """One result in OpenAI's /v1/moderations format (what the simulator answers)."""
        return moderation_result(self.screen([text])[0], text)


_ARRAYS = ("hidden_weights", "hidden_bias", "weights", "bias", "mix", "thresholds")


def save_full_heads(path, heads: FullHeads) -> None:
    np.savez_compressed(path, names=np.array(heads.names),
                        **{k: getattr(heads, k) for k in _ARRAYS})


def read_full_heads(data: bytes) -> FullHeads:
    with np.load(BytesIO(data), allow_pickle=False) as z:
        return FullHeads(names=tuple(str(n) for n in z["names"]),
                         **{k: z[k].astype(np.float32) for k in _ARRAYS})


@lru_cache(maxsize=1)
def load_full_layer() -> FullLayer:
    """The shipped full layer, loaded once per process; raises FullLayerUnavailable (an
    ImportError naming the pip command) without the `full` extra."""
    embed = load_embedder()
    data = resources.files("goodstanding.detect").joinpath(WEIGHTS_FILE).read_bytes()
    return FullLayer(read_full_heads(data), load_detectors(), embed)


@lru_cache(maxsize=1)
def load_local_layer() -> FullLayer | Detectors:
    """The best local layer installed: the full layer, else the always-on layer (said once).
    What stands in for OpenAI's moderation (``on_error: local``, the simulated upstream)."""
    try:
        return load_full_layer()
    except FullLayerUnavailable as exc:
        log.warning("the always-on detectors stand in for the full layer: %s", exc)
        return load_detectors()
