"""End-user identity and the safety identifier OpenAI sees (SPEC §3, reference §2).

The raw end-user id never goes upstream. OpenAI receives
``HMAC-SHA256(secret, tenant "\\n" end_user)`` in hex (64 characters, the spec's maximum):
stable per user so OpenAI can act on one user instead of the whole organization, and not
guessable from an email address the way a plain hash would be. The newline cannot occur in a
tenant name, so two (tenant, user) pairs never share an identifier.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

MAX_END_USER_CHARS = 256


def safety_identifier(secret: bytes, tenant: str, end_user: str) -> str:
    message = tenant.encode() + b"\n" + end_user.encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def end_user_of(body: dict[str, Any] | None, headers: dict[str, str]) -> Any:
    """The client's end-user id, in SPEC order: safety_identifier, user, X-End-User."""
    if body:
        for field in ("safety_identifier", "user"):
            value = body.get(field)
            if value not in (None, ""):
                return value
    return headers.get("x-end-user") or None
