"""Verified end users: a JWT from the application's identity provider (``X-End-User-Token``).

The application's backend (or its browser code) sends the token its identity provider issued
for the signed-in user. The gateway verifies it offline with PyJWT against the configured
public keys (``identity.token``: a JWKS file and/or inline JWKs; RS256, ES256, EdDSA):

- the header's ``alg`` must be one of ``identity.token.algorithms`` (``none`` and the HMAC
  algorithms never are: a public key is not a shared secret) and match the key's type;
- the key is the one named by ``kid``, or any configured key of that algorithm;
- ``exp``, ``sub`` and ``aud`` are required (``identity.token.audience`` must be set: a token
  issued for another service is refused), ``iss`` when ``identity.token.issuer`` is set;
  ``exp``, ``nbf`` and ``iat`` are checked with ``identity.token.leeway`` of clock skew.

The subject becomes the end user (canonicalised like any end-user id), whatever the body's
``user`` or ``safety_identifier`` say; the claim ``identity.token.tier_claim`` names the tier.
Verified tokens are cached until they expire, so a client that sends the same token on every
call pays for one signature check.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from jwt import PyJWK

from goodstanding.endusers.identity import canonical_end_user
from goodstanding.errors import ConfigError
from goodstanding.settings import EndUserTokenSettings, parse_duration

CACHE_SIZE = 10_000
CACHED_CHARS = 2048  # longer tokens are verified every time: the cache stays under ~25 MB
MAX_TOKEN_CHARS = 8192


class TokenRejected(ValueError):
    """Why a token is not accepted, in words fit for the client (never the token itself)."""


@dataclass(frozen=True, slots=True)
class VerifiedUser:
    """What a valid token says: the end user (canonical and as sent), their tier, its expiry."""

    end_user: str
    sent: str
    tier: str | None
    expires: float


def load_keys(settings: EndUserTokenSettings) -> tuple[PyJWK, ...]:
    """The configured public keys; ConfigError naming the one that cannot be used."""
    jwks: list[dict[str, Any]] = []
    if settings.jwks_file:
        try:
            document = json.loads(Path(settings.jwks_file).read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"identity.token.jwks_file: cannot read {settings.jwks_file}: "
                              f"{exc}") from None
        found = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(found, list):
            raise ConfigError("identity.token.jwks_file: not a JWKS ({\"keys\": [...]})")
        jwks.extend(found)
    jwks.extend(settings.keys)
    keys = []
    for index, jwk in enumerate(jwks):
        if not isinstance(jwk, dict) or "d" in jwk or jwk.get("kty") == "oct":
            raise ConfigError(f"identity.token.keys[{index}]: not a public key (JWK)")
        try:
            key = PyJWK(jwk)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
            raise ConfigError(f"identity.token.keys[{index}]: {exc}") from None
        if key.algorithm_name not in settings.algorithms:
            raise ConfigError(f"identity.token.keys[{index}]: algorithm {key.algorithm_name} "
                              f"is not one of {', '.join(settings.algorithms)}")
        keys.append(key)
    if not keys:
        raise ConfigError("identity.token: no keys (set jwks_file or keys)")
    return tuple(keys)


class TokenVerifier:
    def __init__(self, settings: EndUserTokenSettings) -> None:
        self.settings = settings
        self.keys = load_keys(settings)
        self.by_kid = {k.key_id: k for k in self.keys if k.key_id}
        self.algorithms = frozenset(settings.algorithms)
        self.leeway = parse_duration(settings.leeway)
        required = ["exp", "sub", "aud"]
        required += ["iss"] if settings.issuer else []
        self.options: Any = {"require": required}
        self._cache: dict[str, VerifiedUser] = {}

    def verify(self, token: str, now: float | None = None) -> VerifiedUser:
        now = time.time() if now is None else now
        found = self._cache.get(token)
        if found is not None:
            if found.expires + self.leeway > now:
                return found
            del self._cache[token]
        user = self._verify(token)
        if user.expires + self.leeway <= now:  # a clock the library did not use
            raise TokenRejected("the end-user token has expired")
        if len(token) <= CACHED_CHARS:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()  # crude but bounded; live tokens come back in one pass
            self._cache[token] = user
        return user

    def _verify(self, token: str) -> VerifiedUser:
        if len(token) > MAX_TOKEN_CHARS:
            raise TokenRejected("the end-user token is too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise TokenRejected("the end-user token is not a JWT") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise TokenRejected(f"the end-user token's algorithm is not accepted "
                                f"(use {', '.join(sorted(self.algorithms))})")
        claims = self._decode(token, alg, header.get("kid"))
        return self._user(claims)

    def _decode(self, token: str, alg: str, kid: Any) -> dict[str, Any]:
        if kid is not None:
            key = self.by_kid.get(kid) if isinstance(kid, str) else None
            if key is None:
                raise TokenRejected("the end-user token names an unknown key (kid)")
            candidates: tuple[PyJWK, ...] = (key,)
        else:
            candidates = self.keys
        candidates = tuple(k for k in candidates if k.algorithm_name == alg)
        if not candidates:
            raise TokenRejected("no configured key verifies the end-user token's algorithm")
        for key in candidates:
            try:
                return jwt.decode(token, key.key, algorithms=[alg], options=self.options,
                                  audience=self.settings.audience, issuer=self.settings.issuer,
                                  leeway=self.leeway)
            except jwt.InvalidSignatureError:
                continue  # another key of the same algorithm may have signed it
            except jwt.MissingRequiredClaimError as exc:
                raise TokenRejected(f"the end-user token lacks the claim {exc.claim}") from None
            except jwt.InvalidTokenError as exc:
                raise TokenRejected(_why(exc)) from None
        raise TokenRejected("the end-user token's signature does not verify")

    def _user(self, claims: dict[str, Any]) -> VerifiedUser:
        subject = claims.get("sub")
        if not isinstance(subject, str):
            raise TokenRejected("the end-user token's subject (sub) is not a string")
        try:
            end_user = canonical_end_user(subject)
        except ValueError:
            raise TokenRejected("the end-user token's subject (sub) is too long") from None
        if not end_user:
            raise TokenRejected("the end-user token's subject (sub) is empty")
        tier = claims.get(self.settings.tier_claim)
        return VerifiedUser(end_user, subject, tier if isinstance(tier, str) else None,
                            float(claims["exp"]))


def _why(exc: jwt.InvalidTokenError) -> str:
    """The library's reason, in the gateway's words (never echoing a claim's value)."""
    for kind, words in _REASONS:
        if isinstance(exc, kind):
            return words
    return "the end-user token is invalid"


_REASONS: tuple[tuple[type[jwt.InvalidTokenError], str], ...] = (
    (jwt.ExpiredSignatureError, "the end-user token has expired"),
    (jwt.ImmatureSignatureError, "the end-user token is not valid yet"),
    (jwt.InvalidIssuerError, "the end-user token's issuer is not accepted"),
    (jwt.InvalidAudienceError, "the end-user token's audience is not this service"),
    (jwt.InvalidIssuedAtError, "the end-user token's issue time (iat) is invalid"),
    (jwt.DecodeError, "the end-user token cannot be decoded"),
)
