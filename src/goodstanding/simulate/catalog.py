"""`POST /v1/embeddings`, `GET /v1/models` and `GET /v1/models/{id}`."""

from __future__ import annotations

import base64
import hashlib
import struct
import time
from typing import TYPE_CHECKING, Any

from . import directives, faults
from .directives import tokens
from .generation import require_object
from .http import BadRequest, Reply, Request, envelope

if TYPE_CHECKING:
    from .app import SimulatedUpstream

DIMENSIONS = 16
MAX_DIMENSIONS = 256
MODELS = ("gpt-4o-mini", "gpt-4.1", "gpt-5", "omni-moderation-latest", "text-embedding-3-small",
          "gpt-image-1")  # fmt: skip
# a valid 1x1 PNG: a real image without shipping one
PIXEL_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5E"
    "rkJggg=="
)
_CREATED = 1_700_000_000
MAX_IMAGES = 10  # OpenAI's own cap on `n`


def _model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": _CREATED, "owned_by": "system"}


async def list_models(req: Request, sim: SimulatedUpstream) -> Reply:
    return Reply(200, {"object": "list", "data": [_model(m) for m in MODELS]})


async def get_model(req: Request, sim: SimulatedUpstream, model_id: str) -> Reply:
    if model_id not in MODELS:
        return envelope(
            404,
            f"The model '{model_id}' does not exist or you do not have access to it.",
            code="model_not_found",
            param="model",
        )
    return Reply(200, _model(model_id))


async def embeddings(req: Request, sim: SimulatedUpstream) -> Reply:
    body = require_object(req.body, "model", "input")
    texts = _texts(body["input"])
    dims = _dimensions(body.get("dimensions"))
    as_base64 = body.get("encoding_format") == "base64"
    data = [
        {"object": "embedding", "index": i, "embedding": _vector(t, dims, as_base64)}
        for i, t in enumerate(texts)
    ]
    used = sum(tokens(t) for t in texts)
    usage = {"prompt_tokens": used, "total_tokens": used}
    result = {"object": "list", "data": data, "model": body["model"], "usage": usage}
    return Reply(200, result, sim.window.take(used))


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def _texts(value: Any) -> list[str]:
    """Strings as they are; token arrays (lists of ints) read as their printed form."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        if all(isinstance(v, int) for v in value):
            return [str(value)]
        if all(isinstance(v, (str, list)) for v in value):
            return [v if isinstance(v, str) else str(v) for v in value]
    raise BadRequest("'input' must be a string or a non-empty array.", param="input")


def _dimensions(value: Any) -> int:
    if value is None:
        return DIMENSIONS
    if not isinstance(value, int) or not 1 <= value <= MAX_DIMENSIONS:
        raise BadRequest(
            f"'dimensions' must be between 1 and {MAX_DIMENSIONS}.", param="dimensions"
        )
    return value


def _vector(text: str, dims: int, as_base64: bool) -> list[float] | str:
    """A deterministic unit vector derived from the text's hash: same text, same vector."""
    digest = hashlib.shake_128(text.encode()).digest(dims * 2)
    raw = [v / 32768 - 1.0 for v in struct.unpack(f"<{dims}H", digest)]
    norm = sum(v * v for v in raw) ** 0.5 or 1.0
    vector = [v / norm for v in raw]
    if as_base64:
        return base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
    return vector


async def images(req: Request, sim: SimulatedUpstream) -> Reply:
    """`POST /v1/images/generations`: a 1x1 picture per image; faults work in the prompt."""
    body = require_object(req.body, "prompt")
    prompt = str(body["prompt"])
    fault = directives.parse(prompt).fault
    error = faults.error_reply(fault, str(body.get("model") or "gpt-image-1"), sim.window)
    if error is not None:
        return error
    await faults.delay(fault)
    n = min(_count(body.get("n")), MAX_IMAGES)
    if body.get("response_format") == "url":
        data = [{"url": f"https://simulated.invalid/image-{i}.png"} for i in range(n)]
    else:
        data = [{"b64_json": PIXEL_PNG} for _ in range(n)]
    used = tokens(prompt)
    usage = {"input_tokens": used, "output_tokens": 0, "total_tokens": used,
             "input_tokens_details": {"text_tokens": used, "image_tokens": 0}}  # fmt: skip
    return Reply(200, {"created": int(time.time()), "data": data, "usage": usage},
                 sim.window.take(used))  # fmt: skip
