"""Who the end user is and where they call from.

- ``identity``: one canonical id per end user, and the HMAC safety identifier OpenAI sees.
- ``token``: verified end users, a JWT from the application's identity provider.
- ``geo``: the client's country from its IP, offline, and the countries OpenAI supports.

The checks using them are ``checks/identity.py``, ``checks/end_user_token.py`` and
``checks/geo.py``.
"""
