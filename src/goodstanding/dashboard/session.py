"""Dashboard sessions: a login with an admin token gives a signed cookie naming the token.

The cookie is ``name.issued.nonce.signature`` (HMAC-SHA256 with a key derived from the
configured admin tokens, so every worker of a gateway agrees and changing the tokens ends every
session); it holds no token. The CSRF token of a session is an HMAC of its nonce: every POST
form carries it in a hidden field and a POST without the right one is refused (403). Logout
clears the cookie and forgets the nonce in this process (a copy of the cookie replayed to another
worker stays valid until it expires: ``SESSION_SECONDS``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from goodstanding.settings import Settings

COOKIE = "gs_admin"
LOGIN_COOKIE = "gs_login"  # the login form's own CSRF value (double submit)
SESSION_SECONDS = 12 * 3600


@dataclass(frozen=True, slots=True)
class Session:
    name: str
    nonce: str
    csrf: str


class Sessions:
    def __init__(self, settings: Settings) -> None:
        self.tokens: dict[str, str] = {n: t for n, t in settings.admin_tokens.items() if t}
        if settings.admin_token:
            self.tokens["admin"] = settings.admin_token
        material = "\0".join(f"{n}={t}" for n, t in sorted(self.tokens.items()))
        self.key = hashlib.sha256(b"goodstanding-dashboard\0" + material.encode()).digest()
        self.ended: set[str] = set()

    def _sign(self, text: str) -> str:
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()

    def name_of(self, token: str) -> str | None:
        """The name of the admin token given (every one compared, in constant time)."""
        found = None
        given = hashlib.sha256(token.encode()).digest()
        for name, value in self.tokens.items():
            if hmac.compare_digest(given, hashlib.sha256(value.encode()).digest()):
                found = found or name
        return found

    def issue(self, name: str) -> str:
        text = f"{name}.{int(time.time())}.{secrets.token_urlsafe(16)}"
        return f"{text}.{self._sign(text)}"

    def read(self, cookie: str | None) -> Session | None:
        if not cookie or cookie.count(".") != 3:
            return None
        text, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(text)):
            return None
        name, issued, nonce = text.split(".")
        if (not issued.isdigit() or time.time() - int(issued) > SESSION_SECONDS
                or nonce in self.ended or name not in self.tokens):
            return None
        return Session(name, nonce, self._sign("csrf:" + nonce))

    def token_of(self, session: Session) -> str:
        return self.tokens[session.name]

    def end(self, session: Session) -> None:
        self.ended.add(session.nonce)

    @staticmethod
    def csrf_ok(session: Session, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(session.csrf, given or "")
