"""The admin API (SPEC §4): ``/admin/api/…`` behind the admin tokens.

It is off the hot path, so it uses a framework (FastAPI), mounted beside the raw ASGI proxy
for this prefix only: ``server/app.py`` hands it the requests under ``/admin/api/`` and no
other, and imports it only when an admin token is configured (none: the API does not exist).

    shell.py    request id, admin token, body bound, last resort (pure ASGI)
    api.py      the FastAPI app: routers, error envelope, the OpenAPI document
    common.py   who is acting and the audit record of it, cursors, tenants
    keys.py users.py events.py usage.py ops.py upstream.py incidents.py sessions.py
                one router per resource

Adding an endpoint: a function on the router of its resource; a new resource: a module with
an ``APIRouter`` and one line in ``api.routers()``.
"""

from __future__ import annotations

from typing import Any

from goodstanding.gateway import Gateway
from goodstanding.server.admin.auth import AdminTokens

PREFIX = "/admin/api"


def create_admin(gateway: Gateway) -> Any | None:
    """The admin API's ASGI app, or None when no admin token is configured."""
    tokens = AdminTokens.of(gateway.settings)
    if not tokens:
        return None
    from goodstanding.server.admin.api import build
    from goodstanding.server.admin.shell import AdminShell

    return AdminShell(gateway, tokens, build(gateway))
