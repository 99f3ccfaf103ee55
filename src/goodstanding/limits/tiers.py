"""Trust tiers: which end-user limits apply — ``anonymous``, ``verified`` or ``kyc``.

A virtual key names a tier for all of its end users (``trust_tier``, default ``anonymous``,
the strictest). An application that has verified one of its users (e-mail, phone, KYC) can
say so per request with a signed claim in the ``X-Goodstanding-Tier`` header:

    X-Goodstanding-Tier: tier=verified;exp=1767225600;sig=<hex>

    sig = HMAC-SHA256(limits.tier_secret, f"{end_user}\\n{tier}\\n{exp}").hexdigest()

``end_user`` is the id the request names (``safety_identifier``, ``user`` or ``X-End-User``),
either exactly as sent or in its canonical form (``identity.canonical_end_user``);
``exp`` a Unix time after which the claim is void. A claim for another end user, an expired
one or a bad signature is ignored (the key's tier applies) and leaves the reason
``tier_claim_invalid`` on the audit record. Without ``limits.tier_secret`` claims are ignored.
The header never goes upstream.

A verified end-user token (``X-End-User-Token``, ``checks/end_user_token.py``) names the tier
in a claim and takes precedence over both; it may also name a tier the operator added
(``identity.tiers``, lowest first, e.g. ``[anonymous, verified, student, kyc]``; its limits in
``limits.tiers.<name>``, else the anonymous ones). Tiers are ordered by that list:
``identity.require_tier`` names the lowest tier an endpoint or a model needs
(``checks/tier.py``), and ``strikes.tiers`` the strike thresholds that differ per tier. The
tier a call runs under is kept in ``call.tier`` for the checks after it.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from goodstanding.call import Call

TIERS = ("anonymous", "verified", "kyc")
RANK = {name: rank for rank, name in enumerate(TIERS)}
HEADER = "x-goodstanding-tier"


def meets(tier: str, required: str, rank: dict[str, int] = RANK) -> bool:
    """Whether ``tier`` is at least ``required`` in ``rank`` (``identity.tiers``: position);
    an unknown tier meets nothing above the lowest."""
    return rank.get(tier, 0) >= rank[required]


def sign_claim(secret: str, end_user: str, tier: str, exp: int) -> str:
    """The header value an application sends (also what its own code would compute)."""
    sig = hmac.new(secret.encode(), f"{end_user}\n{tier}\n{exp}".encode(), hashlib.sha256)
    return f"tier={tier};exp={exp};sig={sig.hexdigest()}"


def verify_claim(secret: bytes, value: str, end_user: str, now: float) -> str | None:
    """The tier a valid claim names, else None."""
    fields = dict(part.strip().partition("=")[::2] for part in value.split(";"))
    tier, exp, sig = fields.get("tier", ""), fields.get("exp", ""), fields.get("sig", "")
    if tier not in TIERS or not exp.isdigit() or int(exp) < now:
        return None
    expected = hmac.new(secret, f"{end_user}\n{tier}\n{exp}".encode(), hashlib.sha256)
    return tier if hmac.compare_digest(expected.hexdigest(), sig) else None


def tier_of(call: Call, secret: bytes | None, now: float) -> str:
    """The tier ``call`` runs under, resolved once and kept in ``call.tier``: a
    verified token's claim, else a valid signed claim, else the key's tier."""
    tier = call.tier
    if tier is None:
        tier = call.tier = _resolve(call, secret, now)
    return tier


def _resolve(call: Call, secret: bytes | None, now: float) -> str:
    assert call.key is not None
    token = call.token_tier
    if token is not None:
        return token
    claim = call.headers.get(HEADER)
    if claim is None or call.end_user is None:
        return call.key.trust_tier
    if secret:
        # a claim signed for the end-user id as sent, or for its canonical form
        for end_user in (call.end_user, call.end_user_sent):
            if end_user is not None:
                tier = verify_claim(secret, claim, end_user, now)
                if tier is not None:
                    return tier
    call.reasons.append("tier_claim_invalid")
    return call.key.trust_tier
