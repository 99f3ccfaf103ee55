"""Is the request well-formed? Types of the fields the gateway relies on, checked once.

The top-level fields below are checked here; the shapes moderation walks (messages, content
parts, tools, Responses items, the stored-prompt reference, …) are checked by the same walk that
takes the parts out for moderation and the offline detectors (``moderation/parts.py``), once,
and the parts are kept on the call. Anything else in the body is passed through untouched:
OpenAI validates its own fields and its errors come back faithfully.
"""

from __future__ import annotations

from typing import Any

import orjson

from goodstanding.call import Call, Verdict
from goodstanding.endpoints import Endpoint
from goodstanding.endpoints.responses import RESPONSES
from goodstanding.errors import InvalidRequest, ModelNotFound
from goodstanding.moderation.parts import Malformed, extract
from goodstanding.stores.schema import audit_events

_PASS = Verdict("request")
# a model name longer than the audit record's column, or with control characters, is no model
MAX_MODEL_CHARS: int = audit_events.c.model.type.length  # type: ignore[attr-defined]

# the body fields an endpoint must have are its own (``Endpoint.required``); the walk checks the generation endpoints' text fields (``prompt`` is a string for images, a
# stored-prompt reference for Responses); these are the rest, for every endpoint
_TYPES: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "messages": (list,),
    "stream": (bool,),
    "max_tokens": (int,),
    "max_completion_tokens": (int,),
    "max_output_tokens": (int,),
    "stream_options": (dict,),
    "n": (int,),
}
# OpenAI's own bound for ``n`` (choices per call): a larger ``n`` would reach the limits' token
# estimate (max output × n) and the upstream, which refuses it anyway
_MAXIMA = {"n": 128}


def _invalid(message: str, param: str | None = None) -> Verdict:
    return Verdict("request", "refuse", ("invalid_request",), InvalidRequest(message, param=param))


def field_problem(body: dict[str, Any], api: Endpoint) -> tuple[str, str | None] | None:
    for name in api.required:
        if body.get(name) is None:
            return f"Missing required parameter: '{name}'.", name
    for name, types in _TYPES.items():
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, types) or (types == (int,) and isinstance(value, bool)):
            kind = " or ".join(t.__name__ for t in types)
            return f"Invalid type for '{name}': expected {kind}.", name
        if types == (int,) and value < 1:
            return f"Invalid value for '{name}': must be at least 1.", name
        if name in _MAXIMA and value > _MAXIMA[name]:
            return f"Invalid value for '{name}': must be at most {_MAXIMA[name]}.", name
    if api is RESPONSES and body.get("background") is True and \
            body.get("stream") is not True:
        # its answer is fetched later with GET /v1/responses/{id}, which no gateway route
        # serves, and would reach the client without output moderation if one did
        return ("A background response cannot be retrieved through this gateway: send "
                "'background' with 'stream': true, or without 'background'."), "background"
    types = api.input_types
    if types and not isinstance(body["input"], types):
        return "Invalid type for 'input': expected str or list.", "input"
    model = body.get("model")
    if isinstance(model, str) and (len(model) > MAX_MODEL_CHARS or not model.isprintable()):
        return (f"Invalid 'model': expected at most {MAX_MODEL_CHARS} printable characters.",
                "model")
    return None


class RequestCheck:
    name = "request"

    def __init__(self, models: tuple[str, ...] = ()) -> None:
        self.models = frozenset(models)

    async def check(self, call: Call) -> Verdict:
        if call.method != "POST":
            return _PASS
        encoding = call.headers.get("content-encoding")  # most requests: none
        if encoding is not None and (encoding := encoding.strip().lower()) not in ("", "identity"):
            # read as JSON, it would only be "not valid JSON"
            return _invalid(f"Compressed request bodies (Content-Encoding: {encoding[:40]}) are "
                            "not supported: send the body uncompressed.")
        try:
            body = orjson.loads(call.raw_body) if call.raw_body else None
        except orjson.JSONDecodeError:
            return _invalid("The request body is not valid JSON.")
        if not isinstance(body, dict):
            return _invalid("The request body must be a JSON object.")
        api = call.api
        problem = field_problem(body, api)
        if problem:
            return _invalid(*problem)
        try:  # the parts moderation and the detectors see, and the shapes they rely on
            call.parts = extract(call.endpoint, body)
        except Malformed as malformed:
            return _invalid(malformed.message, malformed.param)
        call.body = body
        call.model = body.get("model")
        call.stream = body.get("stream") is True
        if call.stream and api.asks_stream_usage:
            _ask_for_usage(call, body)
        if self.models and call.model is not None and call.model not in self.models:
            error = ModelNotFound(f"The model '{call.model[:100]}' does not exist.", param="model")
            return Verdict(self.name, "refuse", ("model_not_found",), error)
        return _PASS


def _ask_for_usage(call: Call, body: dict[str, Any]) -> None:
    """The audit record needs a stream's usage: ask upstream for it, strip it again later."""
    options = body.get("stream_options") or {}
    if options.get("include_usage"):
        return
    body["stream_options"] = {**options, "include_usage": True}
    call.usage_injected = True
