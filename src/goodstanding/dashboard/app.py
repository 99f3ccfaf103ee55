"""The dashboard's routes (Starlette). Every page and action needs a session (session.py);
every POST needs the session's CSRF token; every read and action is an in-process call to the
admin API with the session's admin token (so the admin API's audit names who did it)."""

from __future__ import annotations

import secrets
import time
from collections import defaultdict
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from goodstanding.dashboard import pages
from goodstanding.dashboard.session import COOKIE, LOGIN_COOKIE, SESSION_SECONDS, Session, Sessions
from goodstanding.errors import StoreUnavailable
from goodstanding.gateway import Gateway

HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-frame-options": "DENY", "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin", "cache-control": "no-store",
}
WINDOWS = {"1h": (3600.0, 300.0), "24h": (86400.0, 3600.0), "7d": (7 * 86400.0, 86400.0)}
USER_ACTIONS = ("suspend", "ban", "unban", "reset")
KEY_ACTIONS = ("rotate", "revoke")
EVENT_PAGES = 5  # at most 5000 records read for the 1 h / 24 h charts


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class Dashboard:
    def __init__(self, gateway: Gateway, admin_api: Any) -> None:
        self.sessions = Sessions(gateway.settings)
        self.store = gateway.store  # bounded by storage.timeout: the session check per page
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=admin_api),
                                        base_url="http://gateway/admin/api", timeout=60)

    # plumbing ---------------------------------------------------------------------------

    async def api(self, session: Session, method: str, path: str, **kwargs: Any) -> Any:
        token = self.sessions.token_of(session)
        answer = await self.client.request(method, path, headers={
            "authorization": f"Bearer {token}"}, **kwargs)
        if answer.status_code >= 400:
            try:
                message = answer.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = f"The admin API answered {answer.status_code}."
            raise ApiError(answer.status_code, message)
        return answer.json()

    async def session(self, request: Request) -> Session | None:
        return await self.sessions.read(request.cookies.get(COOKIE), self.store)

    @staticmethod
    def html(text: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(text, status, headers=HEADERS)

    @staticmethod
    def redirect(to: str) -> RedirectResponse:
        return RedirectResponse(to, 303, headers=HEADERS)

    @staticmethod
    async def form(request: Request) -> dict[str, str]:
        body = await request.body()
        if len(body) > 64 * 1024:
            return {}
        parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}

    def page(self, session: Session, title: str, body: str, request: Request,
             error: str | None = None, status: int = 200) -> HTMLResponse:
        flash = request.query_params.get("done")
        return self.html(pages.layout(title, body, session.csrf, session.name, flash, error),
                         status)

    async def guarded(self, request: Request, handler: Any) -> Response:
        try:
            session = await self.session(request)
        except StoreUnavailable:
            return self.unchecked()
        if session is None:
            if request.method == "POST":
                return self.html(pages.layout("Signed out", "<p><a href='/admin/login'>Sign in"
                                              "</a></p>", error="Your session has ended."), 403)
            return self.redirect("/admin/login")
        form: dict[str, str] = {}
        if request.method == "POST":
            form = await self.form(request)
            if not Sessions.csrf_ok(session, form.get("csrf")):
                return self.page(session, "Refused", "", request,
                                 error="This form is stale or forged (CSRF check failed). "
                                       "Reload the page and try again.", status=403)
        try:
            return await handler(request, session, form)
        except ApiError as error:
            return self.page(session, "Could not do that", "<p><a href='/admin/'>Back to the "
                             "overview</a></p>", request, error=error.message,
                             status=400 if error.status < 500 else 503)
        except StoreUnavailable:
            return self.unchecked()

    # login ------------------------------------------------------------------------------

    def unchecked(self) -> HTMLResponse:
        """The database does not answer: a session cannot be checked, so none is taken."""
        return self.html(pages.layout("Unavailable", "<p><a href='/admin/'>Try again</a></p>",
                                      error="The database does not answer, so this session "
                                            "cannot be checked. Try again shortly."), 503)

    async def login_page(self, request: Request) -> Response:
        try:
            if await self.session(request) is not None:
                return self.redirect("/admin/")
        except StoreUnavailable:
            return self.unchecked()
        value = secrets.token_urlsafe(16)
        response = self.html(pages.login(value))
        response.set_cookie(LOGIN_COOKIE, value, max_age=600, path="/admin", httponly=True,
                            samesite="strict", secure=_https(request))
        return response

    async def login(self, request: Request) -> Response:
        form = await self.form(request)
        expected = request.cookies.get(LOGIN_COOKIE)
        if not expected or not secrets.compare_digest(expected, form.get("csrf", "")):
            return self.html(pages.login(expected or "", "The sign-in form expired or was not "
                                         "this site's: reload the page."), 403)
        name = self.sessions.name_of(form.get("token", ""))
        if name is None:
            return self.html(pages.login(expected, "That is not an admin token of this "
                                         "gateway."), 401)
        response = self.redirect("/admin/")
        response.set_cookie(COOKIE, self.sessions.issue(name), max_age=SESSION_SECONDS,
                            path="/admin", httponly=True, samesite="strict",
                            secure=_https(request))
        response.delete_cookie(LOGIN_COOKIE, path="/admin")
        return response

    async def logout(self, request: Request, session: Session, form: dict[str, str]
                     ) -> Response:
        if form.get("everywhere"):
            await self.api(session, "POST", "/sessions/revoke")
        else:
            await self.sessions.end(session, self.store)
        response = self.redirect("/admin/login")
        response.delete_cookie(COOKIE, path="/admin", httponly=True, samesite="strict")
        return response

    # pages ------------------------------------------------------------------------------

    async def overview(self, request: Request, session: Session, form: dict[str, str]
                       ) -> Response:
        window = request.query_params.get("window", "24h")
        window = window if window in WINDOWS else "24h"
        try:
            standing = await self.api(session, "GET", "/standing")
        except ApiError as error:
            if error.status != 404:
                raise
            standing = None
        series = await self.series(session, window)
        week = time.time() - 7 * 86400
        users = (await self.api(session, "GET", "/usage", params={
            "group_by": "end_user", "since": week}))["rows"]
        keys = (await self.api(session, "GET", "/usage", params={
            "group_by": "key", "since": week}))["rows"]
        events = (await self.api(session, "GET", "/events", params={"limit": 15}))["data"]
        from goodstanding.moderation.budget import HEADROOM  # this process's view

        headroom = {labels[0] if labels else "default": value
                    for labels, value in HEADROOM.values.items()}
        open_incidents = (await self.api(session, "GET", "/incidents", params={
            "status": "open", "since": week}))["data"]
        body = pages.overview(standing, window, series, _risky(users), _risky(keys), events,
                              headroom, open_incidents)
        return self.page(session, "Overview", body, request)

    async def series(self, session: Session, window: str) -> dict[str, list[tuple[str, float]]]:
        span, step = WINDOWS[window]
        now = time.time()
        counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        if window == "7d":
            rows = (await self.api(session, "GET", "/usage", params={
                "group_by": "day", "since": now - span}))["rows"]
            labels = {r["day"]: r for r in rows}
            first = int((now - span) // step) + 1
            points = [time.strftime("%m-%d", time.gmtime(b * step)) for b in
                      range(first, int(now // step) + 1)]
            days = [time.strftime("%Y-%m-%d", time.gmtime(b * step)) for b in
                    range(first, int(now // step) + 1)]
            return {name: [(p, labels.get(d, {}).get(field, 0)) for p, d in zip(points, days,
                                                                              strict=True)]
                    for name, field in (("Requests", "requests"), ("Refusals", "refusals"),
                                        ("Flags", "flagged"))}
        cursor = None
        for _ in range(EVENT_PAGES):
            params: dict[str, Any] = {"since": now - span, "limit": 1000}
            if cursor:
                params["cursor"] = cursor
            page = await self.api(session, "GET", "/events", params=params)
            for event in page["data"]:
                if event["decision"] == "admin" or (event.get("endpoint") or "").startswith(
                        ("webhooks.", "alerts")):
                    continue
                bucket = counts[int(event["ts"] // step)]
                bucket["requests"] += 1
                bucket["refusals"] += event["decision"] == "refused"
                bucket["flagged"] += event["decision"] == "flagged"
            cursor = page["next_cursor"]
            if not page["has_more"]:
                break
        buckets = range(int((now - span) // step) + 1, int(now // step) + 1)
        label = "%H:%M"
        return {name: [(time.strftime(label, time.gmtime(b * step)), counts[b][field])
                       for b in buckets]
                for name, field in (("Requests", "requests"), ("Refusals", "refusals"),
                                    ("Flags", "flagged"))}

    async def users(self, request: Request, session: Session, form: dict[str, str]
                    ) -> Response:
        status = request.query_params.get("status") or None
        status = status if status in pages.STATUSES else None
        q = (request.query_params.get("q") or "").strip()
        params: dict[str, Any] = {"limit": 1000}
        if status:
            params["status"] = status
        rows = (await self.api(session, "GET", "/users", params=params))["data"]
        if q:
            rows = [r for r in rows if q.lower() in r["end_user"].lower()]
        return self.page(session, "End users", pages.users(rows, status, q), request)

    async def user(self, request: Request, session: Session, form: dict[str, str]) -> Response:
        end_user = request.path_params["end_user"]
        detail = await self.api(session, "GET", f"/users/{quote(end_user, safe='')}",
                                params=_tenant(request))
        return self.page(session, f"End user {end_user}", pages.user(detail), request)

    async def user_confirm(self, request: Request, session: Session, form: dict[str, str]
                           ) -> Response:
        end_user = request.path_params["end_user"]
        action = request.query_params.get("action", "")
        if action not in USER_ACTIONS:
            raise ApiError(400, f"Unknown action {action!r}.")
        query = urlencode(_tenant(request))
        base = f"/admin/users/{quote(end_user, safe='')}"
        extra = ""
        if action != "reset":
            extra = ("<label for='reason'>Reason (recorded, shown in the history)</label>"
                     "<input id='reason' name='reason' maxlength='200' style='width:100%'>")
        if action == "suspend":
            extra += ("<label for='duration'>For (30m, 24h, 7d)</label>"
                      "<input id='duration' name='duration' value='24h'>")
        what = {"suspend": f"Suspend {end_user}? Their calls are refused until it ends.",
                "ban": f"Ban {end_user}? Every call of theirs is refused until unbanned.",
                "unban": f"Lift {end_user}'s ban or suspension and forgive their strikes?",
                "reset": f"Reset {end_user}: remove every strike and make them active?"}[action]
        body = pages.confirm(what, f"{base}/{action}?{query}", session.csrf, extra,
                             action in ("suspend", "ban"), f"{base}?{query}")
        return self.page(session, f"{action.capitalize()} {end_user}", body, request)

    async def user_action(self, request: Request, session: Session, form: dict[str, str]
                          ) -> Response:
        end_user = request.path_params["end_user"]
        action = request.path_params["action"]
        if action not in USER_ACTIONS:
            raise ApiError(404, f"Unknown action {action!r}.")
        body: dict[str, Any] = {}
        if form.get("reason"):
            body["reason"] = form["reason"]
        if action == "suspend" and form.get("duration"):
            body["duration"] = form["duration"]
        await self.api(session, "POST", f"/users/{quote(end_user, safe='')}/{action}",
                       params=_tenant(request), json=body if action != "reset" else None)
        query = urlencode({**_tenant(request), "done": f"{action}: done for {end_user}."})
        return self.redirect(f"/admin/users/{quote(end_user, safe='')}?{query}")

    async def keys(self, request: Request, session: Session, form: dict[str, str]) -> Response:
        rows = await self.api(session, "GET", "/keys")
        usage = (await self.api(session, "GET", "/usage", params={"group_by": "key"}))["rows"]
        by_key = {r["key"]: r for r in usage}
        upstream = await self.api(session, "GET", "/upstream")
        body = pages.keys(rows, by_key, session.csrf) + pages.upstream_keys(upstream)
        return self.page(session, "Keys", body, request)

    async def create_key(self, request: Request, session: Session, form: dict[str, str]
                         ) -> Response:
        body: dict[str, Any] = {"name": form.get("name", "")}
        for limit in ("rpm", "tpm"):
            value = form.get(limit, "").strip()
            if value:
                if not value.isdigit():
                    raise ApiError(400, f"{limit}: a whole number, or empty.")
                body[limit] = int(value)
        created = await self.api(session, "POST", "/keys", json=body)
        return self.page(session, "Key created", pages.secret(created, "The key is created."),
                         request)

    async def key_confirm(self, request: Request, session: Session, form: dict[str, str]
                          ) -> Response:
        key_id = request.path_params["key_id"]
        action = request.query_params.get("action", "")
        if action not in KEY_ACTIONS:
            raise ApiError(400, f"Unknown action {action!r}.")
        extra = what = ""
        if action == "rotate":
            what = (f"Rotate key {key_id}? A new key is issued; the old one keeps working for "
                    "the grace period.")
            extra = ("<label for='grace'>Grace (30m, 24h, 7d)</label>"
                     "<input id='grace' name='grace' value='24h'>")
        else:
            what = f"Revoke key {key_id}? Every call with it is refused at once."
        body = pages.confirm(what, f"/admin/keys/{quote(key_id)}/{action}", session.csrf,
                             extra, action == "revoke", "/admin/keys")
        return self.page(session, f"{action.capitalize()} key {key_id}", body, request)

    async def key_action(self, request: Request, session: Session, form: dict[str, str]
                         ) -> Response:
        key_id = request.path_params["key_id"]
        action = request.path_params["action"]
        if action == "rotate":
            created = await self.api(session, "POST", f"/keys/{quote(key_id)}/rotate",
                                     json={"grace": form.get("grace") or "24h"})
            return self.page(session, "Key rotated", pages.secret(
                created, f"Key {key_id} is rotated: this is its replacement."), request)
        if action != "revoke":
            raise ApiError(404, f"Unknown action {action!r}.")
        await self.api(session, "POST", f"/keys/{quote(key_id)}/revoke")
        return self.redirect("/admin/keys?" + urlencode({"done": f"Key {key_id} revoked."}))

    async def alerts(self, request: Request, session: Session, form: dict[str, str]
                     ) -> Response:
        try:
            rows = await self.api(session, "GET", "/alerts")
        except ApiError as error:
            if error.status != 404:
                raise
            rows = None
        return self.page(session, "Alerts", pages.alerts(rows), request)


    async def incidents(self, request: Request, session: Session, form: dict[str, str]
                        ) -> Response:
        status = request.query_params.get("status") or None
        params = {"status": status} if status in ("open", "resolved") else {}
        rows = (await self.api(session, "GET", "/incidents", params=params))["data"]
        return self.page(session, "Incidents", pages.incidents(rows, params.get("status")),
                         request)

    async def incident_confirm(self, request: Request, session: Session, form: dict[str, str]
                               ) -> Response:
        incident_id = request.path_params["incident_id"]
        extra = ("<label for='note'>What was changed (recorded with your name; it resolves "
                 "the incident)</label><textarea id='note' name='note' required "
                 "maxlength='2000' rows='4' style='width:100%'></textarea>")
        body = pages.confirm(f"Record the resolution of incident {incident_id}.",
                             f"/admin/incidents/{quote(incident_id)}/resolve", session.csrf,
                             extra, False, "/admin/incidents")
        return self.page(session, f"Resolve {incident_id}", body, request)

    async def incident_resolve(self, request: Request, session: Session, form: dict[str, str]
                               ) -> Response:
        incident_id = request.path_params["incident_id"]
        await self.api(session, "POST", f"/incidents/{quote(incident_id)}/resolve",
                       json={"note": form.get("note", "")})
        return self.redirect("/admin/incidents?" + urlencode(
            {"done": f"Incident {incident_id}: resolution recorded."}))


def _https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def _tenant(request: Request) -> dict[str, str]:
    tenant = request.query_params.get("tenant")
    return {"tenant": tenant} if tenant else {}


def _risky(rows: list[dict[str, Any]], top: int = 5) -> list[dict[str, Any]]:
    risky = [r for r in rows if r["refusals"] or r["flagged"]]
    risky.sort(key=lambda r: (r["refusals"] + r["flagged"], r["requests"]), reverse=True)
    return risky[:top]


def build(gateway: Gateway, admin_api: Any) -> Starlette:
    board = Dashboard(gateway, admin_api)

    def guard(handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            return await board.guarded(request, handler)
        return endpoint

    async def home(request: Request) -> Response:
        return board.redirect("/admin/")

    routes = [
        Route("/admin", home),
        Route("/admin/login", board.login_page, methods=["GET"]),
        Route("/admin/login", board.login, methods=["POST"]),
        Route("/admin/logout", guard(board.logout), methods=["POST"]),
        Route("/admin/", guard(board.overview), methods=["GET"]),
        Route("/admin/users", guard(board.users), methods=["GET"]),
        # an end-user id may contain "/" (quoted as %2F, which the path arrives decoded
        # from): :path converters, the longer routes first
        Route("/admin/users/{end_user:path}/confirm", guard(board.user_confirm),
              methods=["GET"]),
        Route("/admin/users/{end_user:path}", guard(board.user), methods=["GET"]),
        Route("/admin/users/{end_user:path}/{action}", guard(board.user_action),
              methods=["POST"]),
        Route("/admin/keys", guard(board.keys), methods=["GET"]),
        Route("/admin/keys", guard(board.create_key), methods=["POST"]),
        Route("/admin/keys/{key_id}/confirm", guard(board.key_confirm), methods=["GET"]),
        Route("/admin/keys/{key_id}/{action}", guard(board.key_action), methods=["POST"]),
        Route("/admin/alerts", guard(board.alerts), methods=["GET"]),
        Route("/admin/incidents", guard(board.incidents), methods=["GET"]),
        Route("/admin/incidents/{incident_id}/confirm", guard(board.incident_confirm),
              methods=["GET"]),
        Route("/admin/incidents/{incident_id}/resolve", guard(board.incident_resolve),
              methods=["POST"]),
    ]
    return Starlette(routes=routes)
