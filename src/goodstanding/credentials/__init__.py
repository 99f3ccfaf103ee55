"""Keys and the secrets behind them.

- ``keys``: virtual keys (``gsk-<public id>-<secret>``), their policies and the key cache.
- ``keyring``: the upstream keys, resolved from their references and kept fresh.
- ``secretstore``, ``vault``: where an upstream key's reference points (``secret:``, ``vault:``).
- ``rotation``: rotating an upstream key through OpenAI's Admin API without a failed request.
- ``rotation_schedule``: keys nearing their maximum age: alerts, and the gateway's own
  scheduled upstream rotation (one rotator per key across processes, a claim in the database).
- ``upstream_standing``: usage, signals and standing per upstream key, from the audit log.
- ``scan``: finding leaked OpenAI and goodstanding keys in files and git history.
"""
