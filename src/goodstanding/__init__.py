"""goodstanding: an OpenAI-compatible gateway that keeps an OpenAI organization in good standing."""

__version__ = "0.1.0"
