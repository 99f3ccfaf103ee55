"""The Admin API calls used for key rotation, and OpenAI's safety cases.

Minted keys become valid for the simulator's own authentication and deleted ones stop working,
so a rotation test can prove the gateway really switched keys.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from .generation import new_id, require_object
from .http import Reply, Request, envelope

if TYPE_CHECKING:
    from .app import SimulatedUpstream


async def create_key(req: Request, sim: SimulatedUpstream, project: str, account: str) -> Reply:
    body = req.body if isinstance(req.body, dict) else {}
    now = int(time.time())
    expires_in = body.get("expires_in_seconds")
    key_id = new_id("key_")
    key = {
        "object": "organization.project.service_account.api_key",
        "id": key_id,
        "name": str(body.get("name") or ""),
        "created_at": now,
        "expires_at": now + expires_in if isinstance(expires_in, int) else None,
        "value": "sk-sim-" + os.urandom(24).hex(),
    }
    sim.api_keys[key_id] = {**key, "project_id": project, "service_account_id": account}
    return Reply(200, key)


async def delete_key(req: Request, sim: SimulatedUpstream, project: str, key_id: str) -> Reply:
    # Keys minted elsewhere (the one the gateway started with) are "deleted" too: the simulator
    # cannot know them, and a rotation must be able to finish.
    sim.api_keys.pop(key_id, None)
    sim.deleted_keys.append(key_id)
    return Reply(
        200, {"object": "organization.project.api_key.deleted", "id": key_id, "deleted": True}
    )


async def get_case(req: Request, sim: SimulatedUpstream, case_id: str) -> Reply:
    case = sim.cases.get(case_id)
    if case is None:
        return envelope(404, f"No safety case found with id '{case_id}'.", code="not_found")
    return Reply(200, case)


async def register_case(req: Request, sim: SimulatedUpstream) -> Reply:
    """`POST /_sim/cases`: a test registers the case a webhook will name."""
    body = require_object(req.body, "entity_identifier")
    case: dict[str, Any] = {
        "object": "safety.case",
        "id": new_id("C-"),
        "reason": "cyber_abuse",
        "notice": {"type": "warning"},
        "created_at": int(time.time()),
        **body,
    }
    sim.cases[case["id"]] = case
    return Reply(200, case)
