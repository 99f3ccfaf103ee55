"""Embeddings (``POST /v1/embeddings``): counted against token limits, not a generation."""

from __future__ import annotations

from goodstanding.endpoints.base import Endpoint

EMBEDDINGS = Endpoint(
    "embeddings", "POST", "/v1/embeddings",
    required=("model", "input"),
    input_types=(str, list),
    end_user_field="user",
    counts_tokens=True,
)  # fmt: skip
