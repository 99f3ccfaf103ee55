"""The model listing (``GET /v1/models`` and ``/v1/models/{id}``): free, and filtered to what
a key may use (``goodstanding/models.py``)."""

from __future__ import annotations

from goodstanding.endpoints.base import Endpoint

MODELS = Endpoint("models", "GET", "/v1/models", limited=False)


def names_a_model(method: str, path: str) -> bool:
    """``GET /v1/models/{id}``: one model of the listing."""
    return method == "GET" and path.startswith("/v1/models/") and path.count("/") == 3
