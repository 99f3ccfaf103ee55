"""The operator's dashboard at ``/admin/``: server-rendered HTML served by the gateway.

No CDN, no script, no network fetch at run time: pages are HTML strings (``pages.py``) with
inline SVG charts and one inline stylesheet. Every read and every action goes through the
admin API (``server/admin/``) in-process, with the logged-in admin token: the same checks,
the same audit record naming the token ("who did what") and no second copy of the logic.

    session.py   login with an admin token: a signed session cookie (HttpOnly, SameSite=Strict)
                 and the CSRF token every POST form carries
    app.py       the routes (a Starlette app), mounted by server/app.py beside /admin/api/
    pages.py     the HTML

Like the admin API it exists only when an admin token is configured.
"""

from __future__ import annotations

from typing import Any

from goodstanding.gateway import Gateway

PREFIX = "/admin"


def create_dashboard(gateway: Gateway, admin_api: Any) -> Any:
    from goodstanding.dashboard.app import build

    return build(gateway, admin_api)
