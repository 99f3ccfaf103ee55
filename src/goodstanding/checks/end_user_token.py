"""Verified end users: ``X-End-User-Token`` sets the end user and their tier (before identity).

With ``identity.token`` configured, a valid token's subject is the call's end user — the
identity check takes it before the body's ``safety_identifier``/``user`` or ``X-End-User``,
which therefore cannot override it (a body naming someone else leaves the reason
``end_user_overridden_by_token``) — and its tier claim the call's tier (``limits/tiers.py``). An
invalid, expired, wrong-issuer, wrong-audience, tampered or unsigned (``alg: none``) token →
401 ``invalid_end_user_token``. With ``identity.token.required``, generation calls without a
token get the same answer. Without ``identity.token`` this check is not in the pipeline and the
header means nothing. The header never goes upstream.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from goodstanding.call import Call, Verdict
from goodstanding.endusers.token import TokenRejected, TokenVerifier
from goodstanding.errors import InvalidEndUserToken
from goodstanding.limits.tiers import TIERS
from goodstanding.settings import EndUserTokenSettings

NAME = "end_user_token"
HEADER = "x-end-user-token"
_PASS = Verdict(NAME)
_TIER_UNKNOWN = Verdict(NAME, reasons=("tier_claim_unknown",))


def _refuse(message: str) -> Verdict:
    error = InvalidEndUserToken(f"Invalid X-End-User-Token: {message}.", param="X-End-User-Token",
                                reasons=("invalid_end_user_token",))
    return Verdict(NAME, "refuse", error.reasons, error)


class EndUserTokenCheck:
    name = NAME

    def __init__(self, settings: EndUserTokenSettings, tiers: tuple[str, ...] = TIERS,
                 clock: Callable[[], float] = time.time) -> None:
        self.verifier = TokenVerifier(settings)
        self.tiers = frozenset(tiers)  # identity.tiers: the built-in ones and the operator's
        self.required = settings.required
        self.clock = clock

    async def check(self, call: Call) -> Verdict:
        token = call.headers.get(HEADER)
        if token is None:
            if self.required and call.generation:
                return _refuse("this service needs a verified end user; send the token your "
                               "identity provider issued")
            return _PASS
        token = token.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        try:
            user = self.verifier.verify(token, self.clock())
        except TokenRejected as why:
            return _refuse(str(why))
        call.token_subject = (user.end_user, user.sent)  # the identity check's end user
        if user.tier in self.tiers:
            call.token_tier = user.tier
        elif user.tier is not None:
            return _TIER_UNKNOWN  # the key's tier applies
        return _PASS
