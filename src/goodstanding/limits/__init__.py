"""Rate and token limits (SPEC §2): what a limit is and which ones apply to a request.

- ``ratelimit``: a limit, an admission, the sliding-window arithmetic every counter store shares.
- ``policy``: which limits apply to one request (the key's policy, the end user's tier, scopes).
- ``tokens``: a request's prompt tokens, a free upper bound first, an exact count when it matters.
- ``tiers``: trust tiers (anonymous, verified, kyc, …) and the signed tier claim.

The check that enforces them is ``checks/limits.py``; the counters are in ``stores/counters*.py``.
"""
