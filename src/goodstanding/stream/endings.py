"""How a stream ends, per endpoint: its terminal event, a content-filter cut, an error event."""

from __future__ import annotations

import time
from typing import Any

import orjson

from goodstanding.call import Call
from goodstanding.errors import GatewayError
from goodstanding.stream.reading import RESPONSE_DONE
from goodstanding.stream.sse import last_event_head


def ends_stream(out: bytes, chat: bool) -> bool:
    """Whether ``out`` (whole events) ends with the stream's terminal event."""
    if chat:
        return out.endswith((b"[DONE]\n\n", b"[DONE]\r\n\r\n"))
    head = last_event_head(out)
    return any(name in head for name in RESPONSE_DONE)


def content_filter_end(call: Call, meta: dict[str, Any]) -> bytes:
    """The clean ending of a stream cut by an output check (SPEC §3)."""
    if call.endpoint == "chat.completions":
        chunk = {
            "id": meta.get("id") or f"chatcmpl-{call.request_id}",
            "object": "chat.completion.chunk",
            "created": meta.get("created") or int(time.time()),
            "model": meta.get("model") or call.model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "content_filter"}],
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\ndata: [DONE]\n\n"
    response = {
        "id": meta.get("response_id") or f"resp_{call.request_id}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "incomplete",
        "incomplete_details": {"reason": "content_filter"},
        "model": call.model,
        "output": [],
    }
    event = {"type": "response.incomplete", "response": response, "sequence_number": 0}
    return b"event: response.incomplete\ndata: " + orjson.dumps(event) + b"\n\n"


def error_event(call: Call, error: GatewayError) -> bytes:
    """An error in the stream, as OpenAI sends one (the SDKs raise it)."""
    return _error_frame(call, error.body()["error"])


def stream_error(call: Call, message: str, code: str) -> bytes:
    """An error told inside a stream that already started (the SDKs raise it as APIError)."""
    return _error_frame(call, {"message": message, "type": "server_error", "param": None,
                               "code": code})


def _error_frame(call: Call, error: dict[str, Any]) -> bytes:
    if call.endpoint == "responses":
        event = {"type": "error", "code": error["code"], "message": error["message"],
                 "param": None, "sequence_number": 0}
        return b"event: error\ndata: " + orjson.dumps(event) + b"\n\n"
    return b"data: " + orjson.dumps({"error": error}) + b"\n\n"
