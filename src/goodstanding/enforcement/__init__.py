"""Strikes, suspensions and bans (SPEC §2–§4): where an end user stands, and who changes it.

- ``standing``: an end user's status (active, suspended until, banned) and its local cache.
- ``enforcer``: the one place a status changes (strikes, the operator's CLI, OpenAI's webhooks).
- ``webhooks``: OpenAI's enforcement webhooks, verified and mapped onto the enforcer.

The checks that read and feed them are ``checks/standing.py`` and ``checks/strikes.py``.
"""
