"""`POST /v1/moderations`: OpenAI's request and result shapes, all 13 categories, every time."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .directives import tokens
from .generation import new_id, require_object
from .http import BadRequest, Reply, Request, envelope
from .scoring import CATEGORIES, IMAGE_CATEGORIES, Flags, Scores, image_scores, text_scores

if TYPE_CHECKING:
    from .app import SimulatedUpstream

DEFAULT_MODEL = "omni-moderation-latest"


async def handle(req: Request, sim: SimulatedUpstream) -> Reply:
    body = require_object(req.body, "input")
    sim.note_moderation(body["input"])
    mode = sim.config.moderation
    if mode == "down":
        return envelope(
            503,
            "The moderation service is unavailable. (goodstanding simulated outage)",
            type="server_error",
            code="service_unavailable",
        )
    if mode == "rate_limited":
        return envelope(
            429,
            "Rate limit reached for omni-moderation-latest in organization org-simulated on "
            "tokens per min (TPM): Limit 10000. Please try again in 1s. (goodstanding simulated)",
            type="tokens",
            code="rate_limit_exceeded",
            headers=sim.moderation_window.exhausted(),
        )
    if mode == "slow":
        await asyncio.sleep(sim.config.slow_moderation_s)
    results, used = _results(body["input"])
    result = {
        "id": new_id("modr-"),
        "model": body.get("model") or DEFAULT_MODEL,
        "results": results,
    }
    return Reply(200, result, sim.moderation_window.take(used))


def _results(value: Any) -> tuple[list[dict[str, Any]], int]:
    """One result per string; one combined result for an array of multimodal parts."""
    if isinstance(value, str):
        return [_result(*text_scores(value), _types(text=True))], tokens(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        results = [_result(*text_scores(v), _types(text=True)) for v in value]
        return results, sum(tokens(v) for v in value)
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return _multimodal(value)
    raise BadRequest(
        "'input' must be a string, an array of strings, or an array of multimodal parts.",
        param="input",
    )


def _multimodal(parts: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    scored: list[tuple[Scores, Flags]] = []
    used = 0
    has_text = has_image = False
    for part in parts:
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            scored.append(text_scores(part["text"]))
            used += tokens(part["text"])
            has_text = True
        elif kind == "image_url" and isinstance(_url(part), str):
            scored.append(image_scores(_url(part)))
            has_image = True
        else:
            raise BadRequest("Each input part must be a text or an image_url part.", param="input")
    scores = {c: max((s[c] for s, _ in scored), default=0.0) for c in CATEGORIES}
    flags = set().union(*(f for _, f in scored))
    return [_result(scores, flags, _types(text=has_text, image=has_image))], used


def _url(part: dict[str, Any]) -> Any:
    image = part.get("image_url")
    return image.get("url") if isinstance(image, dict) else None


def _types(*, text: bool = False, image: bool = False) -> dict[str, list[str]]:
    """Which input types each category was applied to; text-only categories never see images."""
    applied = {}
    for c in CATEGORIES:
        kinds = ["text"] if text else []
        if image and c in IMAGE_CATEGORIES:
            kinds.append("image")
        applied[c] = kinds
    return applied


def _result(scores: Scores, flags: Flags, applied: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "flagged": bool(flags),
        "categories": {c: c in flags for c in CATEGORIES},
        "category_scores": scores,
        "category_applied_input_types": applied,
    }
