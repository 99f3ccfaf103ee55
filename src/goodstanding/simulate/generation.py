"""What a generation request asks for, read the same way for Chat Completions and Responses."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from . import directives
from .http import BadRequest, Disconnect

FINGERPRINT = "goodstanding-simulated"


@dataclass(frozen=True, slots=True)
class Generation:
    model: str
    text: str
    truncated: bool
    directives: directives.Directives
    prompt_tokens: int
    created: int

    @property
    def fault(self) -> str | None:
        return self.directives.fault

    @property
    def completion_tokens(self) -> int:
        return directives.tokens(self.text)


def plan(body: Any, texts: list[str], newest_user: str, limit_names: tuple[str, ...]) -> Generation:
    """Decide the answer for a request whose texts and newest user text were already read."""
    d = directives.parse(newest_user)
    text, truncated = directives.answer(d, directives.max_words(body, *limit_names))
    return Generation(
        model=str(body["model"]),
        text=text,
        truncated=truncated,
        directives=d,
        prompt_tokens=sum(directives.tokens(t) for t in texts),
        created=int(time.time()),
    )


def require_object(body: Any, *required: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    for name in required:
        if name not in body:
            raise BadRequest(
                f"Missing required parameter: '{name}'.",
                param=name,
                code="missing_required_parameter",
            )
    return body


def part_texts(content: Any, kinds: tuple[str, ...]) -> list[str]:
    """Texts of a message's content: a plain string or a list of typed parts."""
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return []
    return [
        p["text"]
        for p in content
        if isinstance(p, dict) and p.get("type") in kinds and isinstance(p.get("text"), str)
    ]


def new_id(prefix: str) -> str:
    return prefix + "sim" + os.urandom(12).hex()


async def paced(
    items: Iterable[bytes], delay_s: float, stop_after: int | None = None
) -> AsyncIterator[bytes]:
    """Yield stream chunks with a pause between them; `stop_after` cuts the stream (a fault).

    Without a pause the events go out in one write: still one event per word for the reader,
    but one system call instead of dozens, which keeps the simulator out of benchmark numbers.
    """
    if not delay_s and stop_after is None:
        yield b"".join(items)
        return
    for i, item in enumerate(items):
        if stop_after is not None and i >= stop_after:
            raise Disconnect
        if delay_s and i:
            await asyncio.sleep(delay_s)
        yield item


def chunk_delay(gen: Generation, configured: float) -> float:
    """`[[delay_ms:N]]` in the prompt wins over the configured delay."""
    return gen.directives.delay_ms / 1000 if gen.directives.delay_ms else configured
