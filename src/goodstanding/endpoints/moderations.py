"""Moderations (``POST /v1/moderations``): passed through; its input is checked for shape."""

from __future__ import annotations

from goodstanding.endpoints.base import Endpoint

MODERATIONS = Endpoint(
    "moderations", "POST", "/v1/moderations",
    required=("input",),
    input_types=(str, list),
)  # fmt: skip
