"""Prompt tokens: a free upper bound first, an exact count only when it matters.

OpenAI's encodings are byte-level BPE, so every token covers at least one byte of UTF-8 text.
The request's JSON body is at least as long as the text it carries (and its per-message
framing is longer than the few tokens the chat format adds), so ``len(raw_body)`` plus a
fixed allowance per image is an **upper bound** on the prompt's tokens that costs nothing.
(``chars / 4`` is only an average: random text or CJK runs at one token per 1–2 characters.)

The exact count (``bpe-openai``: OpenAI's ``o200k_base``/``cl100k_base`` shipped inside the
package, tiktoken-compatible, no downloads) is taken only when the bound is over a limit: a
prompt that might be too long, or a token reservation that would not fit. It runs in a worker
thread and stops as soon as the running total passes the limit asked about.
"""

from __future__ import annotations

import threading
import warnings
from typing import Any, Protocol

# what one image part may cost (a high-detail 1024×1024 image is 765 tokens; larger tile sets
# cost more, and OpenAI bounds them by resizing)
IMAGE_TOKENS = 1105
# the chat format's tokens around each message, and around the whole prompt
PER_MESSAGE = 4
PER_PROMPT = 3
CHUNK_CHARS = 16_384

_TEXT_FIELDS = ("messages", "input", "instructions", "prompt", "tools", "functions")
_SKIP_KEYS = frozenset({"type", "role", "id", "call_id", "image_url", "file_data", "file_id",
                        "detail", "url", "status", "cache_control"})
_CL100K = ("gpt-3.5", "gpt-4-", "text-embedding-3", "text-embedding-ada")
_IMAGE_TYPES = frozenset({"image_url", "input_image", "image", "image_file"})


class Encoding(Protocol):
    def encode_ordinary(self, text: str) -> list[int]: ...


_encodings: dict[str, Encoding] = {}
_lock = threading.Lock()


def encoding_for(model: str | None) -> Encoding:
    """``cl100k_base`` for GPT-3.5/GPT-4 and the v3 embeddings, ``o200k_base`` for the rest."""
    cl100k = model is not None and (model == "gpt-4" or model.startswith(_CL100K))
    name = "cl100k_base" if cl100k else "o200k_base"
    found = _encodings.get(name)
    if found is not None:
        return found
    with _lock:
        if name not in _encodings:
            with warnings.catch_warnings():
                # bpe-openai reads its bundled files through a deprecated importlib API
                warnings.simplefilter("ignore", DeprecationWarning)
                import bpe_openai  # type: ignore[import-untyped]

                _encodings[name] = bpe_openai.get_encoding(name)
        return _encodings[name]


def image_parts(body: dict[str, Any]) -> int:
    count = 0
    stack: list[Any] = [body.get(f) for f in _TEXT_FIELDS]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") in _IMAGE_TYPES:
                count += 1
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return count


def upper_bound(raw_body: bytes, body: dict[str, Any] | None) -> int:
    """An upper bound on the prompt's tokens, free for a text-only request."""
    bound = len(raw_body)
    if body is not None and (b"image" in raw_body):
        bound += IMAGE_TOKENS * image_parts(body)
    return bound


def prompt_texts(body: dict[str, Any]) -> tuple[list[str], int, int]:
    """The strings a model reads, the tokens around them (chat framing, token ids given as
    numbers), and the number of images."""
    texts: list[str] = []
    images = ids = 0
    messages = body.get("messages")
    count = len(messages) if isinstance(messages, list) else 1
    stack: list[Any] = [body.get(f) for f in reversed(_TEXT_FIELDS)]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            texts.append(node)
        elif isinstance(node, int) and not isinstance(node, bool):
            ids += 1  # embeddings accept token ids; elsewhere a number costs about one token
        elif isinstance(node, dict):
            if node.get("type") in _IMAGE_TYPES:
                images += 1
                continue
            stack.extend(v for k, v in node.items() if k not in _SKIP_KEYS)
        elif isinstance(node, list):
            stack.extend(reversed(node))
    return texts, PER_PROMPT + PER_MESSAGE * count + ids, images


def count_prompt(body: dict[str, Any], model: str | None, stop_above: int | None = None) -> int:
    """Prompt tokens as OpenAI counts them (to within the chat format's few framing tokens).

    With ``stop_above``, counting stops once the total passes it (the answer is then only
    known to be larger): a 400k-character prompt is refused without encoding all of it.
    """
    texts, framing, images = prompt_texts(body)
    total = framing + IMAGE_TOKENS * images
    encoding = encoding_for(model)
    for text in texts:
        for start in range(0, len(text), CHUNK_CHARS):
            total += len(encoding.encode_ordinary(text[start : start + CHUNK_CHARS]))
            if stop_above is not None and total > stop_above:
                return total
    return total

