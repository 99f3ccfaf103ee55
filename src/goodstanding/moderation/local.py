"""``moderation.on_error: local``: the offline detectors judge when the endpoint cannot.

Their verdicts are weaker than OpenAI's, so they are never cached. They read text only: an
image part cannot be judged locally, and a request with one fails closed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cache
from typing import Any

from goodstanding.moderation.parts import Part
from goodstanding.moderation.scored import Scored, scored

log = logging.getLogger("goodstanding.moderation")


@cache
def _detectors() -> Any:
    try:
        from goodstanding.detect import load_detectors
    except ImportError:  # the detectors are optional at this layer; fail closed without them
        log.error("moderation.on_error is 'local' but goodstanding.detect is not available; "
                  "failing closed")  # fmt: skip
        return None
    return load_detectors()


def local_results(parts: Sequence[Part]) -> list[Scored] | None:
    """The detectors' results per part, or None when they cannot judge these parts."""
    detectors = _detectors()
    if detectors is None or any(kind != "text" for kind, _ in parts):
        return None
    results = []
    for _, text in parts:
        screen = detectors.screen(text)
        results.append(scored(screen.flagged, screen.category_scores))
    return results
