"""Image generation (``POST /v1/images/generations``): one prompt, moderated as text."""

from __future__ import annotations

from goodstanding.endpoints.base import Endpoint
from goodstanding.endpoints.fields import IDS, ROUTING, TEXT

IMAGES = Endpoint(
    "images.generations", "POST", "/v1/images/generations",
    generation=True,
    required=("prompt",),
    end_user_field="user",
    moderated={"prompt": TEXT},
    not_model_read={
        "model": ROUTING,
        "size": ROUTING,
        "svg.model": ROUTING,
        "user": IDS,
        "safety_identifier": IDS,
    },
)  # fmt: skip
