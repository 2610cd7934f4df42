"""The declarative route table: one entry per endpoint drives routing, auth, body validation and OpenAPI."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from dispatch.auth import Role

Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    """An endpoint: who may call it, what body it takes, what it answers."""

    method: str
    path: str
    handler: Handler
    summary: str
    roles: frozenset[Role] | None  # None: no token needed
    body: dict[str, Any] | None = None
    response: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    status: int = 200
    tag: str = "dispatch"
    raw_body: bool = False  # the handler reads the body itself (uploads, OsmAnd forms)
    idempotent: bool = False  # takes an Idempotency-Key header: a retry gets the first answer


class RouteTable:
    """Collects routes; ``route(...)`` is used as a decorator on handlers."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(self, method: str, path: str, *, summary: str, roles: set[Role] | None,
              body: dict[str, Any] | None = None, response: dict[str, Any] | None = None,
              status: int = 200, tag: str = "dispatch", raw_body: bool = False,
              idempotent: bool = False) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            self.routes.append(Route(method, path, handler, summary,
                                     frozenset(roles) if roles is not None else None, body,
                                     response or {"type": "object"}, status, tag, raw_body, idempotent))
            return handler
        return decorate


def openapi_document(routes: list[Route], *, title: str, version: str) -> dict[str, Any]:
    """Write the OpenAPI 3.1 document describing every route and body."""
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        op: dict[str, Any] = {
            "summary": r.summary,
            "tags": [r.tag],
            "operationId": f"{r.method.lower()}_{r.handler.__name__}",
            "responses": {
                str(r.status): {"description": "success",
                                "content": {"application/json": {"schema": r.response}}},
                "400": {"$ref": "#/components/responses/Error"},
            },
        }
        params = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                  for p in _path_params(r.path)]
        if params:
            op["responses"]["404"] = {"$ref": "#/components/responses/Error"}
        if r.idempotent:
            params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                           "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                           "description": "one key per user action: the same request sent again with it "
                                          "(a retry after a lost answer) is answered as the first time and "
                                          "recorded once, across restarts; the key on another request is 422"})
            op["responses"]["422"] = {"$ref": "#/components/responses/Error"}
        if params:
            op["parameters"] = params
        if r.roles is None:
            op["security"] = []
        else:
            op["description"] = "Roles: " + ", ".join(sorted(role.value for role in r.roles))
            op["responses"]["401"] = {"$ref": "#/components/responses/Error"}
            op["responses"]["403"] = {"$ref": "#/components/responses/Error"}
        if r.body is not None:
            op["requestBody"] = {"required": True,
                                 "content": {"application/json": {"schema": r.body}}}
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "County 120 dispatch service. Times are ISO 8601 UTC, coordinates WGS84 "
                                "(lon, lat), durations in seconds, distances in metres."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": ERROR_SCHEMA},
            "responses": {"Error": {"description": "refused, with the reason",
                                    "content": {"application/json": {"schema": ERROR_SCHEMA}}}},
        },
    }


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string", "description": "machine-readable code"},
                   "message": {"type": "string", "description": "<field>: <what is wrong>"}},
}


def _path_params(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]
