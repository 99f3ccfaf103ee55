"""The content policy end users agree to: rendered from the configuration (``render``), and
their recorded acceptance of its current version (``acceptance``)."""
