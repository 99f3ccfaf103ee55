"""Library mode: the gateway in-process, behind the official SDK's clients (README)."""

from goodstanding.library.clients import AsyncOpenAI, OpenAI

__all__ = ["AsyncOpenAI", "OpenAI"]
