"""The full layer's sentence embedding: WordLlama's static token vectors, mean-pooled.

The `wordllama` package (MIT; `pip install 'goodstanding[full]'`) ships its weights
(`weights/l2_supercat_256.safetensors`, 32,000 Llama-2 tokens x 256 dimensions) and its
tokenizer (`tokenizers/l2_supercat_tokenizer_config.json`) inside the wheel. We read those two
files and nothing else: wordllama's own Python is never imported, because its loader falls back
to downloading from Hugging Face when a file is missing and its package `__init__` calls
`logging.basicConfig(level=INFO)` on the host's root logger. A missing file here is an error,
never a download.

An embedding is the mean of the token vectors of the canonical text (at most `MAX_CHARS`
characters), L2-normalised: one tokenizer call for a whole batch, one gather and one
`np.add.reduceat`. Deterministic; no padding, so a text's vector does not depend on its batch.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

PACKAGE = "wordllama"
WEIGHTS = "weights/l2_supercat_256.safetensors"
TOKENIZER = "tokenizers/l2_supercat_tokenizer_config.json"
DIM = 256
MAX_CHARS = 16_000  # bounds the cost of huge inputs; the always-on heads window the rest
INSTALL_HINT = "pip install 'goodstanding[full]'"


class FullLayerUnavailable(ImportError):
    """The full layer's embedding is not installed (the `full` extra)."""


def package_dir() -> Path:
    """wordllama's installed folder, found without importing (running) the package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FullLayerUnavailable(
            f"the detectors' full layer needs the wordllama package: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


class Embedder:
    """Texts -> (n, DIM) float32 unit vectors."""

    def __init__(self, tokenizer, vectors: np.ndarray) -> None:
        self.tokenizer, self.vectors = tokenizer, vectors

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), np.float32)
        encoded = self.tokenizer.encode_batch([t[:MAX_CHARS] for t in texts],
                                              add_special_tokens=False)
        lengths = np.fromiter((len(e.ids) for e in encoded), np.intp, len(encoded))
        ids = np.fromiter((i for e in encoded for i in e.ids), np.intp, int(lengths.sum()))
        out = np.zeros((len(texts), DIM), np.float32)
        present = lengths > 0
        if ids.size:
            starts = np.r_[0, np.cumsum(lengths)[:-1]][present]
            out[present] = np.add.reduceat(self.vectors.take(ids, axis=0), starts, axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


@lru_cache(maxsize=1)
def load_embedder() -> Embedder:
    """The shipped embedding, read from wordllama's package files (never downloaded)."""
    try:
        from safetensors import safe_open
        from tokenizers import Tokenizer
    except ImportError as e:
        raise FullLayerUnavailable(f"the detectors' full layer needs {e.name}: {INSTALL_HINT}")
    root = package_dir()
    for name in (WEIGHTS, TOKENIZER):
        if not (root / name).is_file():
            raise FullLayerUnavailable(f"{root / name} is missing: reinstall ({INSTALL_HINT})")
    tokenizer = Tokenizer.from_file(str(root / TOKENIZER))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    with safe_open(str(root / WEIGHTS), framework="np") as f:
        vectors = np.ascontiguousarray(f.get_tensor("embedding.weight"), np.float32)
    if vectors.shape[1] != DIM:
        raise ValueError(f"unexpected embedding shape {vectors.shape}")
    return Embedder(tokenizer, vectors)
