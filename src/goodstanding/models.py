"""Which models a key may use, and `GET /v1/models` listing exactly those.

A model is usable when the configuration allows it (`upstream.models`, empty = any) and the key
allows it (`keys create --model`, empty = any). The listing is the upstream's own list cut down
to the usable models, plus configured models the upstream does not list (an alias an
OpenAI-compatible upstream serves without listing), so clients that list models first offer
only what will work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from goodstanding.endpoints.models import MODELS

if TYPE_CHECKING:
    from goodstanding.call import Call, Result
    from goodstanding.upstream import Upstream

LISTING_PATH = "/v1/models"


def usable(configured: frozenset[str], key_models: tuple[str, ...]) -> frozenset[str] | None:
    """The models a key may use; None = any."""
    if not key_models:
        return configured or None
    return frozenset(m for m in key_models if not configured or m in configured)


def listing(body: bytes, allowed: frozenset[str], configured: frozenset[str]) -> bytes:
    """The upstream's `{"object": "list", "data": [...]}` with only the allowed models."""
    try:
        document = orjson.loads(body)
        data = document["data"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return body
    kept = [m for m in data if isinstance(m, dict) and m.get("id") in allowed]
    listed = {m["id"] for m in kept}
    kept += [{"id": name, "object": "model", "created": 0, "owned_by": "goodstanding"}
             for name in sorted(allowed & configured - listed)]  # fmt: skip
    return orjson.dumps({**document, "data": kept})


class ModelListing:
    """The upstream, with `GET /v1/models` answers cut down to what the calling key may use."""

    def __init__(self, upstream: Upstream, configured: tuple[str, ...]) -> None:
        self.upstream = upstream
        self.configured = frozenset(configured)

    async def send(self, call: Call) -> Result:
        result = await self.upstream.send(call)
        if call.api is not MODELS or result.status != 200 or result.stream is not None:
            return result
        if call.path.partition("?")[0] != LISTING_PATH:
            return result
        allowed = usable(self.configured, call.key.models if call.key else ())
        if allowed is not None:
            result.body = listing(result.body, allowed, self.configured)
        return result

    async def close(self) -> None:
        await self.upstream.close()
