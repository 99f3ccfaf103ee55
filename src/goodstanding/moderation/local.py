"""``moderation.on_error: local``: the offline detectors judge when the endpoint cannot.

They judge with the full layer (the always-on screen plus the embedding heads, SPEC §5), its
texts micro-batched with other requests' (`detect.batched.FullScreener`); without the `full`
extra installed, with the always-on layer (logged once). Their verdicts are weaker than
OpenAI's, so they are never cached. They read text only: an image part cannot be judged
locally, and a request with one fails closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import cache
from typing import Any

from goodstanding.moderation.parts import Part
from goodstanding.moderation.scored import Scored, scored

log = logging.getLogger("goodstanding.moderation")


@cache
def _judge() -> Callable[[list[str]], Awaitable[list[Any]]] | None:
    """The full layer's batched screen, else the always-on one, else None (fail closed)."""
    try:
        from goodstanding.detect.batched import FullScreener
        from goodstanding.detect.full import FullLayer, load_local_layer
    except ImportError:  # the detectors are optional at this layer; fail closed without them
        log.error("moderation.on_error is 'local' but goodstanding.detect is not available; "
                  "failing closed")  # fmt: skip
        return None
    layer = load_local_layer()
    if isinstance(layer, FullLayer):
        return FullScreener(layer).screen

    async def always_on(texts: list[str]) -> list[Any]:
        return [layer.screen(t) for t in texts]

    return always_on


async def local_results(parts: Sequence[Part]) -> list[Scored] | None:
    """The detectors' results per part, or None when they cannot judge these parts."""
    if any(kind != "text" for kind, _ in parts):
        return None
    # the first use loads the model (a fraction of a second): off the event loop
    judge = _judge() if _judge.cache_info().currsize else await asyncio.to_thread(_judge)
    if judge is None:
        return None
    screens = await judge([text for _, text in parts])
    return [scored(s.flagged, s.category_scores) for s in screens]
