"""The admin API as a FastAPI application: one router per resource, errors in OpenAI's
envelope, and an OpenAPI document (``/admin/api/openapi.json``) that says exactly that.

Adding a resource is one module with an ``APIRouter`` (see ``keys.py``) and one line in
``routers()``: everything else (auth, request ids, the error envelope, the audit of actions
through ``Admin.acting``) is already around it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from types import UnionType
from typing import Any, Union, get_args, get_origin

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from fastapi.security import HTTPBearer
from starlette.exceptions import HTTPException

from goodstanding.errors import GatewayError, InternalError, InvalidRequest, NotFound
from goodstanding.gateway import Gateway
from goodstanding.server.admin.common import ERROR_RESPONSES, admin_store

PREFIX = "/admin/api"
log = logging.getLogger("goodstanding.admin")

# documents the scheme in the OpenAPI file; the check itself is the shell's (shell.py)
bearer = HTTPBearer(auto_error=False, description="an admin token (GOODSTANDING_ADMIN_TOKEN "
                                                  "or one of GOODSTANDING_ADMIN_TOKENS)")


def routers() -> list[APIRouter]:
    """The resources, in the order the OpenAPI document lists them."""
    from goodstanding.server.admin import (
        events,
        incidents,
        keys,
        ops,
        sessions,
        signals,
        upstream,
        usage,
        users,
    )

    # signals first: its /users/{id}/signals would otherwise be read as the end user
    # "{id}/signals" by the users router (end-user ids may contain "/": :path converters)
    return [keys.router, signals.router, users.router, users.identities, events.router,
            usage.router, ops.router, upstream.router, incidents.router, sessions.router]


def build(gateway: Gateway) -> FastAPI:
    from fastapi import Depends, Security

    app = FastAPI(
        title="goodstanding admin API", version=_version(), openapi_url=f"{PREFIX}/openapi.json",
        docs_url=None, redoc_url=None,
        dependencies=[Security(bearer), Depends(_single_values)], responses=ERROR_RESPONSES,
    )
    app.state.gateway = gateway
    app.state.store = admin_store(gateway)
    for router in routers():
        app.include_router(router, prefix=PREFIX)
    app.add_exception_handler(GatewayError, _gateway_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _crash)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


async def _single_values(request: Request) -> None:
    """The query string holds only parameters the operation declares, each once unless it is
    a list (``?group_by=key&group_by=day``): a typo or a repeat is a mistake, not ignored."""
    declared, repeatable = _declared(request.scope.get("route"))
    seen: set[str] = set()
    for name, _ in request.query_params.multi_items():
        if name not in declared:
            raise InvalidRequest(f"Unknown query parameter {name!r}.", param=name)
        if name in seen and name not in repeatable:
            raise InvalidRequest(f"{name}: given more than once.", param=name)
        seen.add(name)


_DECLARED: dict[int, tuple[frozenset[str], frozenset[str]]] = {}


def _declared(route: Any) -> tuple[frozenset[str], frozenset[str]]:
    """The route's query parameters (its dependencies' included), and which take a list."""
    found = _DECLARED.get(id(route))
    if found is None:
        params = list(_query_params(route.dependant)) if route else []
        names = frozenset(p.alias for p in params)
        lists = frozenset(p.alias for p in params if _is_list(p.field_info.annotation))
        found = _DECLARED[id(route)] = (names, lists)
    return found


def _query_params(dependant: Any) -> Iterator[Any]:
    yield from dependant.query_params
    for sub in dependant.dependencies:
        yield from _query_params(sub)


def _is_list(annotation: Any) -> bool:
    options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ()
    return any(get_origin(a) in (list, tuple, set) for a in (annotation, *options))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("goodstanding")
    except PackageNotFoundError:
        return "0"


def envelope(error: GatewayError) -> Response:
    return _json(error.body(), error.status, error.response_headers())


def _json(document: Any, status: int, headers: dict[str, str] | None) -> Response:
    return Response(orjson.dumps(document), status, headers, media_type="application/json")


async def _gateway_error(request: Request, error: GatewayError) -> Response:
    return envelope(error)


async def _invalid(request: Request, error: RequestValidationError) -> Response:
    first = error.errors()[0] if error.errors() else {}
    where = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    param = ".".join(where) or None
    # pydantic's message describes the rule, never the value sent
    message = f"{param or 'request'}: {first.get('msg', 'invalid value')}"
    return envelope(InvalidRequest(message, param=param))


async def _http_error(request: Request, error: HTTPException) -> Response:
    if error.status_code == 404:
        return envelope(NotFound(f"No route for {request.url.path}."))
    body = {"error": {"message": str(error.detail), "type": "invalid_request_error",
                      "param": None, "code": _CODES.get(error.status_code, "invalid_request")}}
    return _json(body, error.status_code, error.headers)


_CODES = {405: "method_not_allowed", 401: "invalid_api_key"}


async def _crash(request: Request, error: Exception) -> Response:
    log.exception("admin API: unhandled error on %s %s", request.method, request.url.path)
    return envelope(InternalError("The admin API failed to handle this request."))


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, less the 422 it adds to every operation (ours is a 400 in the
    envelope, documented by ``ERROR_RESPONSES``)."""
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version, routes=app.routes,
                               description=__doc__)
        for path in document.get("paths", {}).values():
            for operation in path.values():
                operation.get("responses", {}).pop("422", None)
        schemas = document.get("components", {}).get("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        app.openapi_schema = document
    return app.openapi_schema
