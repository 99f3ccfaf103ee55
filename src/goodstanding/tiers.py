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
"""

from __future__ import annotations

import hashlib
import hmac

TIERS = ("anonymous", "verified", "kyc")
HEADER = "x-goodstanding-tier"


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
