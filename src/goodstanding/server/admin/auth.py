"""Who may use the admin API: ``Authorization: Bearer`` against the configured admin tokens.

Two ways to configure them (SPEC §4), both at once if wanted:

    GOODSTANDING_ADMIN_TOKEN=…                       one unnamed token, recorded as "admin"
    GOODSTANDING_ADMIN_TOKENS=ops:env:OPS,ci:file:/p named tokens (``admin_tokens:`` in YAML)

Every presented token is compared with every configured one, in constant time and without
stopping at the first match: SHA-256 digests are compared (so neither the length of a
token nor which one matched shows in the timing), and the name of the match is what the audit
records. No token configured: the admin API does not exist (404), like any unknown path.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from goodstanding.settings import Settings

UNNAMED = "admin"


@dataclass(frozen=True, slots=True)
class AdminTokens:
    digests: tuple[tuple[str, bytes], ...]  # (name, sha256 of the token)

    @classmethod
    def of(cls, settings: Settings) -> AdminTokens:
        tokens = [(name, token) for name, token in settings.admin_tokens.items() if token]
        if settings.admin_token:
            tokens.append((UNNAMED, settings.admin_token))
        return cls(tuple((name, _digest(token.encode())) for name, token in tokens))

    def __bool__(self) -> bool:
        return bool(self.digests)

    def name_of(self, authorization: bytes | None) -> str | None:
        """The name of the token an ``Authorization`` header carries; None when none matches."""
        presented = _digest(_bearer(authorization))
        found = None
        for name, digest in self.digests:  # every token, whatever matched before
            if hmac.compare_digest(presented, digest) and found is None:
                found = name
        return found


def _bearer(authorization: bytes | None) -> bytes:
    if not authorization:
        return b""
    scheme, _, token = authorization.strip().partition(b" ")
    return token.strip() if scheme.lower() == b"bearer" else b""


def _digest(token: bytes) -> bytes:
    # an empty token never matches: the configured ones are never empty (settings validate)
    return hashlib.sha256(token).digest() if token else b"\0" * 32
