"""goodstanding: an OpenAI-compatible gateway that keeps an OpenAI organization in good standing."""

from typing import Any

__version__ = "0.1.0"
__all__ = ["AsyncOpenAI", "OpenAI"]


def __getattr__(name: str) -> Any:
    """``from goodstanding import OpenAI``: library mode, imported only when asked for."""
    if name in __all__:
        from goodstanding import library

        return getattr(library, name)
    raise AttributeError(f"module 'goodstanding' has no attribute {name!r}")
