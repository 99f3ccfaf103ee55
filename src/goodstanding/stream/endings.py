"""Errors told inside a stream that already started, in the endpoint's own form."""

from __future__ import annotations

from goodstanding.call import Call
from goodstanding.errors import GatewayError


def error_event(call: Call, error: GatewayError) -> bytes:
    """An error in the stream, as OpenAI sends one (the SDKs raise it)."""
    return call.api.error_frame(error.body()["error"])


def stream_error(call: Call, message: str, code: str) -> bytes:
    """An error told inside a stream that already started (the SDKs raise it as APIError)."""
    return call.api.error_frame({"message": message, "type": "server_error", "param": None,
                                 "code": code})
