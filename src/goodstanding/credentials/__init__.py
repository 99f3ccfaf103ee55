"""Keys and the secrets behind them.

- ``keys``: virtual keys (``gsk-<public id>-<secret>``), their policies and the key cache.
- ``keyring``: the upstream keys, resolved from their references and kept fresh.
- ``secretstore``, ``vault``: where an upstream key's reference points (``secret:``, ``vault:``).
- ``rotation``: rotating an upstream key through OpenAI's Admin API without a failed request.
- ``scan``: finding leaked OpenAI and goodstanding keys in files and git history.
"""
