"""``OpenAI`` and ``AsyncOpenAI``: the official SDK's clients with the gateway in-process.

Same constructor as the SDK's, plus ``config=`` (a YAML path or a ``Settings``; default: the
environment variables ``serve`` reads). ``api_key`` and ``base_url``, when given, are the
upstream's key and URL (a ``gsk-`` key is a goodstanding virtual key instead, checked against
the store like the server does). Copies (``with_options``, ``for_user``) share their parent's
gateway; closing the parent closes it, and its event-loop thread for the sync client.
"""

from __future__ import annotations

import os
from typing import Any

import httpx2
import openai

from goodstanding.library.engine import AsyncTransport, SyncTransport
from goodstanding.settings import Settings, load_settings

# where the SDK sends its requests: nowhere on the network, the transport takes them
IN_PROCESS_URL = "http://goodstanding.in-process/v1"
END_USER_HEADER = "X-End-User"


def library_settings(
    config: str | os.PathLike[str] | Settings | None, api_key: Any, base_url: Any
) -> Settings:
    settings = config if isinstance(config, Settings) else load_settings(config)
    upstream: dict[str, Any] = {}
    if isinstance(api_key, str) and api_key and not api_key.startswith("gsk-"):
        upstream["key"] = api_key
    if isinstance(base_url, str | httpx2.URL) and str(base_url):
        upstream["url"] = str(base_url).rstrip("/")
    if not upstream:
        return settings
    return settings.model_copy(update={"upstream": settings.upstream.model_copy(update=upstream)})


class _Http(httpx2.Client):
    """The sync client's HTTP client: marks a gateway shared by copies."""


class _AsyncHttp(httpx2.AsyncClient):
    """The async client's HTTP client: marks a gateway shared by copies."""


class OpenAI(openai.OpenAI):
    def __init__(
        self, *, config: str | os.PathLike[str] | Settings | None = None,
        api_key: Any = None, base_url: Any = None, http_client: Any = None, **kwargs: Any,
    ) -> None:
        self._goodstanding_owner = not isinstance(http_client, _Http)
        if self._goodstanding_owner:
            settings = library_settings(config, api_key, base_url)
            http_client = _Http(transport=SyncTransport(settings))
            api_key = api_key or settings.upstream.key or "library"
            base_url = IN_PROCESS_URL
        super().__init__(api_key=api_key, base_url=base_url, http_client=http_client, **kwargs)

    def for_user(self, end_user: str) -> OpenAI:
        """A client whose calls are made for ``end_user`` (as ``X-End-User``)."""
        return self.with_options(default_headers={END_USER_HEADER: end_user})

    def close(self) -> None:
        if self._goodstanding_owner:  # a copy shares its parent's gateway
            super().close()


class AsyncOpenAI(openai.AsyncOpenAI):
    def __init__(
        self, *, config: str | os.PathLike[str] | Settings | None = None,
        api_key: Any = None, base_url: Any = None, http_client: Any = None, **kwargs: Any,
    ) -> None:
        self._goodstanding_owner = not isinstance(http_client, _AsyncHttp)
        if self._goodstanding_owner:
            settings = library_settings(config, api_key, base_url)
            http_client = _AsyncHttp(transport=AsyncTransport(settings))
            api_key = api_key or settings.upstream.key or "library"
            base_url = IN_PROCESS_URL
        super().__init__(api_key=api_key, base_url=base_url, http_client=http_client, **kwargs)

    def for_user(self, end_user: str) -> AsyncOpenAI:
        """A client whose calls are made for ``end_user`` (as ``X-End-User``)."""
        return self.with_options(default_headers={END_USER_HEADER: end_user})

    async def close(self) -> None:
        if self._goodstanding_owner:  # a copy shares its parent's gateway
            await super().close()
