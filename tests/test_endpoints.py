"""The endpoint registry: every API is routed to its own module, and nothing else is known."""

from __future__ import annotations

import pytest

from goodstanding.door import endpoint_for
from goodstanding.endpoints import ENDPOINTS, OTHER, endpoint_of, stream_shape
from goodstanding.errors import EndpointNotAllowed, NotFound


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_each_route_reaches_its_endpoint(endpoint) -> None:
    assert endpoint_of(endpoint_for(endpoint.method, endpoint.path, ())) is endpoint


def test_names_and_routes_are_unique() -> None:
    assert len({e.name for e in ENDPOINTS}) == len({(e.method, e.path) for e in ENDPOINTS}) \
        == len(ENDPOINTS)


def test_an_allowed_path_is_other_and_an_unknown_one_is_refused() -> None:
    assert endpoint_of(endpoint_for("GET", "/v1/files", ("/v1/files",))) is OTHER
    assert endpoint_of("nothing") is OTHER
    with pytest.raises(EndpointNotAllowed):
        endpoint_for("GET", "/v1/files", ())
    with pytest.raises(NotFound):
        endpoint_for("GET", "/v1/chat/completions", ())


def test_generations_declare_what_the_model_reads_and_where_the_end_user_goes() -> None:
    for endpoint in ENDPOINTS:
        if endpoint.generation:
            assert endpoint.moderated and endpoint.end_user_field, endpoint.name


def test_every_endpoint_knows_where_a_stream_ends() -> None:
    # an API that does not stream reads an unexpected stream like an allowed path's (Responses)
    chat_end = b'data: {"choices":[]}\n\ndata: [DONE]\n\n'
    responses_end = (b'event: response.output_text.delta\ndata: {"delta":"x"}\n\n'
                     b'event: response.completed\ndata: {"response":{}}\n\n')
    for endpoint in (*ENDPOINTS, OTHER):
        ends = stream_shape(endpoint).ends
        chat = endpoint is endpoint_of("chat.completions")
        assert ends(chat_end) is chat and ends(responses_end) is not chat, endpoint.name
        assert not ends(b'data: {"choices":[{"delta":{"content":"x"}}]}\n\n')
