"""The OpenAI APIs the gateway understands, one module each, behind one interface.

    base.py         ``Endpoint`` (and ``StreamShape``): what an API is to the gateway
    fields.py       the vocabulary of the declared model-read fields
    chat.py         Chat Completions        responses.py   Responses
    embeddings.py   Embeddings              images.py      image generation
    moderations.py  Moderations             models.py      the model listing

Supporting a new API (or a field of one) is one file here, listed in ``ENDPOINTS``. Anything
else under ``/v1`` that the operator allowed is ``OTHER``: passed on, known to be nothing.
"""

from __future__ import annotations

from goodstanding.endpoints.base import Endpoint, StreamShape
from goodstanding.endpoints.chat import CHAT
from goodstanding.endpoints.embeddings import EMBEDDINGS
from goodstanding.endpoints.images import IMAGES
from goodstanding.endpoints.models import MODELS, names_a_model
from goodstanding.endpoints.moderations import MODERATIONS
from goodstanding.endpoints.responses import RESPONSES

__all__ = [
    "ENDPOINTS",
    "MESSAGES",
    "MODERATED",
    "NOT_MODEL_READ",
    "OTHER",
    "READ_FIRST",
    "ROUTES",
    "TOOL_RESULTS",
    "Endpoint",
    "StreamShape",
    "endpoint_of",
    "names_a_model",
    "stream_shape",
]

ENDPOINTS: tuple[Endpoint, ...] = (CHAT, RESPONSES, EMBEDDINGS, MODERATIONS, IMAGES, MODELS)
# an operator-allowed path: passed on as it is. A stream there is read as Responses events (a
# stored response is streamed again by ``GET /v1/responses/{id}?stream=true``): its usage counts
OTHER = Endpoint("other", stream=RESPONSES.stream)

_BY_NAME = {endpoint.name: endpoint for endpoint in ENDPOINTS}
# (method, path) → the endpoint's name, for routing
ROUTES = {(endpoint.method, endpoint.path): endpoint.name for endpoint in ENDPOINTS}

# the declared model-read fields, per endpoint name (moderation/parts.py compiles them)
MODERATED = {e.name: dict(e.moderated) for e in ENDPOINTS if e.moderated is not None}
TOOL_RESULTS = {e.name: e.tool_results for e in ENDPOINTS if e.moderated is not None}
NOT_MODEL_READ = {e.name: dict(e.not_model_read) for e in ENDPOINTS if e.moderated is not None}
MESSAGES = {e.name: e.messages for e in ENDPOINTS if e.messages is not None}
READ_FIRST = {e.name: e.read_first for e in ENDPOINTS if e.read_first is not None}


def endpoint_of(name: str) -> Endpoint:
    """The endpoint a call's name stands for (``OTHER`` when the gateway knows nothing)."""
    return _BY_NAME.get(name, OTHER)


def stream_shape(endpoint: Endpoint) -> StreamShape:
    """How a stream from ``endpoint`` is read (an API that does not stream: as ``OTHER``'s)."""
    shape = endpoint.stream or OTHER.stream
    assert shape is not None
    return shape
