"""Generated requests against the admin API's own OpenAPI document, through a real server:
no 5xx on any input, and every answer matches the document (status, content type, headers,
schema); inputs outside the document are refused with a 4xx, and no operation works without
the token.

Each operation gets a few examples in each mode (inside and outside the schema), derandomized
so that a run is repeatable and bounded in time. The operations are driven one by one with
Hypothesis directly: schemathesis' pytest plugin does not run under pytest 9 yet.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode, checks

TOKEN = "schemathesis-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHECKS = [checks.not_a_server_error, checks.status_code_conformance,
          checks.content_type_conformance, checks.response_schema_conformance,
          checks.response_headers_conformance, checks.negative_data_rejection,
          checks.ignored_auth]
EXAMPLES = 8


@pytest.fixture
def admin(start_gateway, sim):
    gw = start_gateway(GOODSTANDING_ADMIN_TOKEN=TOKEN)
    # end users, strikes and events, so that lookups and pages have something to find
    client = gw.client()
    for user in ("ann", "bob"):
        client.chat.completions.create(model="gpt-4o-mini", safety_identifier=user,
                                       messages=[{"role": "user", "content": "hello"}])
    return gw


def operations(gw: Any) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{gw.url}/admin/api/openapi.json", headers=AUTH)
    return [result.ok() for result in schema.get_all_operations()]


def exercise(operation: Any, mode: GenerationMode) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        case.call_and_validate(headers=AUTH, checks=CHECKS)

    run()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_admin_api_keeps_to_its_openapi_document(admin, mode):
    found = operations(admin)
    assert len(found) >= 15  # keys, users, safety identifiers, events, usage
    for operation in found:
        exercise(operation, mode)
