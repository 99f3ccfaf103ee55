"""Dashboard sessions: a login with an admin token gives a signed cookie naming the token.

The cookie is ``name.issued.nonce.signature`` (HMAC-SHA256 with a key derived from the
configured admin tokens, so every worker of a gateway agrees and changing the tokens ends every
session); it holds no token. The CSRF token of a session is an HMAC of its nonce: every POST
form carries it in a hidden field and a POST without the right one is refused (403).

Logout ends the session everywhere at once: the nonce is recorded as revoked in the database
(``admin_session_revocations``, migration 0010) and every dashboard request of every worker and
process looks its session up there (one indexed read of two primary keys, bounded by
``storage.timeout``; only under /admin, never on the proxy's path). "Sign out everywhere" and
``POST /admin/api/sessions/revoke`` revoke every session of an admin token issued until then.
A database that does not answer fails closed: no dashboard page without a checked session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from goodstanding.settings import Settings
from goodstanding.stores.base import SessionStore

COOKIE = "gs_admin"
LOGIN_COOKIE = "gs_login"  # the login form's own CSRF value (double submit)
SESSION_SECONDS = 12 * 3600


@dataclass(frozen=True, slots=True)
class Session:
    name: str
    nonce: str
    csrf: str
    issued: float  # Unix time


def _scopes(name: str, nonce: str) -> tuple[str, str]:
    return f"session:{nonce}", f"name:{name}"


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
        # issued in milliseconds: a sign-in right after "sign out everywhere" outlives it
        text = f"{name}.{int(time.time() * 1000)}.{secrets.token_urlsafe(16)}"
        return f"{text}.{self._sign(text)}"

    def verify(self, cookie: str | None) -> Session | None:
        """The session a cookie carries when its signature holds and it has not expired (or
        ended in this process); whether it was revoked elsewhere is ``read``'s question."""
        if not cookie or cookie.count(".") != 3:
            return None
        text, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(text)):
            return None
        name, issued, nonce = text.split(".")
        if (not issued.isdigit() or time.time() - int(issued) / 1000 > SESSION_SECONDS
                or nonce in self.ended or name not in self.tokens):
            return None
        return Session(name, nonce, self._sign("csrf:" + nonce), int(issued) / 1000)

    async def read(self, cookie: str | None, store: SessionStore) -> Session | None:
        """The cookie's session, unless it was signed out or revoked on any worker (the
        store's bounded read; ``StoreUnavailable`` when the database does not answer)."""
        session = self.verify(cookie)
        if session is None:
            return None
        revoked = await store.session_revocations(_scopes(session.name, session.nonce))
        own, everyone = _scopes(session.name, session.nonce)
        if own in revoked or revoked.get(everyone, -1.0) >= session.issued:
            self.ended.add(session.nonce)  # a session never comes back: no more lookups
            return None
        return session

    def token_of(self, session: Session) -> str:
        return self.tokens[session.name]

    async def end(self, session: Session, store: SessionStore) -> None:
        """Sign out: this session ends on every worker (it would have expired by then)."""
        self.ended.add(session.nonce)
        await store.revoke_sessions(_scopes(session.name, session.nonce)[0], time.time(),
                                    session.issued + SESSION_SECONDS)

    async def revoke_all(self, store: SessionStore, name: str) -> float:
        """Every session of admin token ``name`` issued until now ends, on every worker."""
        now = time.time()
        await store.revoke_sessions(f"name:{name}", now, now + SESSION_SECONDS)
        return now

    @staticmethod
    def csrf_ok(session: Session, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(session.csrf, given or "")
