"""The HTTP edge: `create_app(config)` builds the aiohttp application of the dispatch service.

JSON in and out (orjson). Every route but ``/api/health`` needs ``Authorization: Bearer <token>``.
Bad input is answered ``4xx {"error": code, "message": "<field>: <what is wrong>"}``, never a 5xx.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
from aiohttp import web

from dispatch.auth import Principal, Role, Tokens
from dispatch.codec import to_dict
from dispatch.errors import (CallStateError, DispatchError, DuplicateIdError, IllegalTransitionError,
                             UnitBusyError, UnknownIdError)
from dispatch.errors_http import ApiError, bad_request
from dispatch.model import Complaint, UnitStatus
from dispatch.routes import Route, RouteTable, openapi_document
from dispatch.schema import parse_datetime, validate
from dispatch.service import DispatchService
from dispatch.store import StoreError

log = logging.getLogger(__name__)

SERVICE = web.AppKey("service", DispatchService)
RUNTIME = web.AppKey("runtime", dict)
MAX_BODY = web.AppKey("max_body", int)
PRINCIPAL = web.RequestKey("principal", Principal)

DISPATCH = {Role.DISPATCHER, Role.ADMIN}
READERS = {Role.DISPATCHER, Role.ADMIN, Role.PLANNER}
UNIT_ACTORS = {Role.DISPATCHER, Role.ADMIN, Role.CREW}
ANYONE = set(Role)

api = RouteTable()

# -- schemas ----------------------------------------------------------------------------------

LON = {"type": "number", "minimum": -180, "maximum": 180}
LAT = {"type": "number", "minimum": -90, "maximum": 90}
REASON = {"type": "string", "minLength": 1, "maxLength": 500}
CALL_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["location", "complaint", "priority"],
    "properties": {
        "location": {"oneOf": [
            {"type": "object", "additionalProperties": False, "required": ["lon", "lat"],
             "properties": {"lon": LON, "lat": LAT}},
            {"type": "object", "additionalProperties": False, "required": ["place"],
             "properties": {"place": {"type": "string", "minLength": 1, "maxLength": 100}}},
        ], "description": "{lon, lat} (WGS84) or {place}: a gazetteer name in Chinese or pinyin"},
        "complaint": {"type": "string", "enum": [c.value for c in Complaint]},
        "priority": {"type": "integer", "minimum": 1, "maximum": 4,
                     "description": "1 life-threatening … 4 non-urgent"},
        "symptom_onset": {"type": ["string", "null"], "format": "date-time"},
        "caller_phone": {"type": ["string", "null"], "maxLength": 32},
        "notes": {"type": "string", "maxLength": 2000},
        "place_name": {"type": ["string", "null"], "maxLength": 200},
    },
}
ASSIGN_BODY = {"type": "object", "additionalProperties": False, "required": ["unit_id"],
               "properties": {"unit_id": {"type": "string", "minLength": 1, "maxLength": 64},
                              "reason": REASON}}
REASON_BODY = {"type": "object", "additionalProperties": False, "required": ["reason"],
               "properties": {"reason": REASON}}
OPTIONAL_REASON_BODY = {"type": "object", "additionalProperties": False, "properties": {"reason": REASON}}
EMPTY_BODY = {"type": "object", "additionalProperties": False, "properties": {}}
STATUS_BODY = {"type": "object", "additionalProperties": False, "required": ["status"],
               "properties": {"status": {"type": "string", "enum": [s.value for s in UnitStatus]},
                              "reason": REASON}}
RECOMMENDATION = {"type": "object", "properties": {
    "unit_id": {"type": "string"}, "eta_s": {"type": "number"}, "distance_m": {"type": "number"},
    "turnout_s": {"type": "number"}, "travel_s": {"type": "number"}, "source": {"type": "string"},
    "capability": {"type": "string"}, "preferred": {"type": "boolean"},
    "route": {"type": ["object", "null"], "description": "GeoJSON Feature (LineString)"}}}
CALL_CREATED = {"type": "object", "properties": {
    "id": {"type": "string"}, "call": {"type": "object"},
    "recommendations": {"type": "array", "items": RECOMMENDATION}}}


# -- helpers ----------------------------------------------------------------------------------

def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS), status=status,
                        content_type="application/json")


def error_response(status: int, code: str, message: str,
                   headers: Mapping[str, str] | None = None) -> web.Response:
    response = json_response({"error": code, "message": message}, status)
    if headers:
        response.headers.update(headers)
    return response


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def recommendations_json(ranking: Any) -> list[dict[str, Any]]:
    return [{"unit_id": o.unit_id, "eta_s": round(o.eta_s, 1), "distance_m": round(o.distance_m, 1),
             "turnout_s": o.turnout_s, "travel_s": round(o.travel_s, 1), "source": o.source,
             "capability": str(o.capability), "preferred": o.preferred,
             "route": o.route.geojson() if o.route is not None else None} for o in ranking]


def unit_json(service: DispatchService, unit_id: str) -> dict[str, Any]:
    unit = service.state.units[unit_id]
    out = to_dict(unit)
    out["station_location"] = {"lon": unit.station_location[0], "lat": unit.station_location[1]}
    out["device_id"] = unit.device_id or unit.id
    fix = service.positions.get(unit_id)
    out["position"] = {"lon": fix[0][0], "lat": fix[0][1]} if fix else None
    out["position_at"] = fix[1].isoformat() if fix else None
    if service.unit_extras is not None:
        out.update(service.unit_extras(unit_id))  # live fields: stale, speed, heading, ETA (dispatch.positions)
    return out


def own_unit(request: web.Request) -> str:
    """The path's unit id, when the caller may change that unit (403 otherwise)."""
    unit_id = request.match_info["unit_id"]
    service = request.app[SERVICE]
    service.get_unit(unit_id)
    who = principal(request)
    if not who.may_change_unit(unit_id):
        raise ApiError(403, "forbidden", f"unit_id: a {who.role.value} token for {who.unit or who.name} "
                                         f"may not change unit {unit_id}")
    return unit_id


# -- routes -----------------------------------------------------------------------------------

@api.route("GET", "/api/health", summary="Liveness and state counters (no token)", roles=None)
async def health(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    state = service.state
    return json_response({"status": "ok", "seq": service.last_seq, "units": len(state.units),
                          "calls_open": sum(1 for c in state.calls.values() if c.ended_at is None),
                          "queued": len(state.queue)})


@api.route("GET", "/api/openapi.json", summary="This API as an OpenAPI 3 document", roles=ANYONE)
async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document(api.routes, title="ems dispatch service", version="0.1.0"))


@api.route("POST", "/api/calls", summary="Take a 120 call; answer the ranked nearest units", roles=DISPATCH,
           body=CALL_BODY, response=CALL_CREATED, status=201)
async def create_call(request: web.Request, body: dict[str, Any]) -> web.Response:
    service = request.app[SERVICE]
    runtime = request.app[RUNTIME]
    loc = body["location"]
    place_name = body.get("place_name")
    if "place" in loc:
        point = runtime["resolve_place"](loc["place"])
        location = (point.lon, point.lat)
        place_name = place_name or point.name
    else:
        location = (float(loc["lon"]), float(loc["lat"]))
    runtime["check_location"](location, "location")
    onset = body.get("symptom_onset")
    call, ranking = await service.receive_call(
        location=location, complaint=body["complaint"], priority=body["priority"],
        by=principal(request).by, symptom_onset=parse_datetime(onset, "symptom_onset") if onset else None,
        caller_phone=body.get("caller_phone"), notes=body.get("notes", ""), place_name=place_name,
        key=request.headers.get("Idempotency-Key"))
    return json_response({"id": call.id, "call": service.call_view(service.state.calls[call.id]),
                          "recommendations": recommendations_json(ranking)}, 201)


@api.route("GET", "/api/calls", summary="List calls, open ones first, oldest first (?status=open|all); "
           "a center sees the patients coming to it", roles=READERS | {Role.CENTER})
async def list_calls(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    state = service.state
    which = request.query.get("status", "open")
    if which not in ("open", "all"):
        raise bad_request(f"status: must be open or all, got {which!r}")
    calls = [c for c in state.calls.values() if which == "all" or c.ended_at is None]
    calls.sort(key=lambda c: (c.ended_at is not None, c.received_at))
    views = [service.call_view(c) for c in calls]
    who = principal(request)
    if who.role is Role.CENTER:
        views = [v for v in views if v.get("destination_hospital_id") == who.hospital]
    return json_response({"calls": views})


@api.route("GET", "/api/calls/{call_id}", summary="One call with its event history", roles=READERS | {Role.CENTER})
async def get_call(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    call = service.get_call(request.match_info["call_id"])
    out = service.call_view(call)
    who = principal(request)
    if who.role is Role.CENTER and out.get("destination_hospital_id") != who.hospital:
        raise ApiError(403, "forbidden", f"call_id: call {call.id} is not coming to {who.hospital}")
    out["history"] = await service.call_history(call.id)
    return json_response(out)


@api.route("GET", "/api/calls/{call_id}/recommendations", summary="Rank the available units again",
           roles=DISPATCH)
async def get_recommendations(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    ranking = await service.recommendations(request.match_info["call_id"])
    return json_response({"recommendations": recommendations_json(ranking),
                          "unreachable": list(ranking.unreachable)})


@api.route("POST", "/api/calls/{call_id}/assign", summary="Send a unit (a reason is required to override)",
           roles=DISPATCH, body=ASSIGN_BODY)
async def assign(request: web.Request, body: dict[str, Any]) -> web.Response:
    service = request.app[SERVICE]
    call_id = request.match_info["call_id"]
    await service.assign(call_id, body["unit_id"], by=principal(request).by, reason=body.get("reason"))
    return json_response(service.call_view(service.state.calls[call_id]))


@api.route("POST", "/api/calls/{call_id}/cancel", summary="Cancel a call (reason required)", roles=DISPATCH,
           body=REASON_BODY)
async def cancel(request: web.Request, body: dict[str, Any]) -> web.Response:
    service = request.app[SERVICE]
    call_id = request.match_info["call_id"]
    await service.cancel(call_id, body["reason"], by=principal(request).by)
    return json_response(service.call_view(service.state.calls[call_id]))


@api.route("POST", "/api/calls/{call_id}/close", summary="Close a finished call", roles=DISPATCH,
           body=OPTIONAL_REASON_BODY)
async def close(request: web.Request, body: dict[str, Any]) -> web.Response:
    service = request.app[SERVICE]
    call_id = request.match_info["call_id"]
    await service.close_call(call_id, by=principal(request).by, reason=body.get("reason"))
    return json_response(service.call_view(service.state.calls[call_id]))


@api.route("GET", "/api/units", summary="List units with status, position and device id", roles=ANYONE)
async def list_units(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    who = principal(request)
    ids = sorted(service.state.units)
    if who.role is Role.CREW:
        ids = [u for u in ids if u == who.unit]
    return json_response({"units": [unit_json(service, u) for u in ids]})


@api.route("GET", "/api/units/{unit_id}", summary="One unit", roles=ANYONE)
async def get_unit(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    unit_id = request.match_info["unit_id"]
    service.get_unit(unit_id)
    who = principal(request)
    if who.role is Role.CREW and who.unit != unit_id:
        raise ApiError(403, "forbidden", f"unit_id: a crew token for {who.unit} may not read unit {unit_id}")
    return json_response(unit_json(service, unit_id))


@api.route("POST", "/api/units/{unit_id}/status", summary="Report a unit's status (crews: their own unit)",
           roles=UNIT_ACTORS, body=STATUS_BODY)
async def set_status(request: web.Request, body: dict[str, Any]) -> web.Response:
    service = request.app[SERVICE]
    unit_id = own_unit(request)
    await service.set_status(unit_id, body["status"], by=principal(request).by, reason=body.get("reason"))
    return json_response(unit_json(service, unit_id))


@api.route("POST", "/api/units/{unit_id}/accept", summary="The crew accepts its assignment",
           roles=UNIT_ACTORS, body=EMPTY_BODY)
async def accept(request: web.Request, body: dict[str, Any]) -> web.Response:
    service = request.app[SERVICE]
    unit_id = own_unit(request)
    await service.accept(unit_id, by=principal(request).by)
    return json_response(unit_json(service, unit_id))


@api.route("POST", "/api/units/{unit_id}/decline", summary="The crew declines its assignment (reason required)",
           roles=UNIT_ACTORS, body=REASON_BODY)
async def decline(request: web.Request, body: dict[str, Any]) -> web.Response:
    service = request.app[SERVICE]
    unit_id = own_unit(request)
    await service.decline(unit_id, body["reason"], by=principal(request).by)
    return json_response(unit_json(service, unit_id))


# -- middleware -------------------------------------------------------------------------------

_DISPATCH_STATUS = {UnknownIdError: (404, "not_found"), DuplicateIdError: (409, "duplicate"),
                    IllegalTransitionError: (409, "illegal_transition"), UnitBusyError: (409, "unit_busy"),
                    CallStateError: (409, "call_state")}


@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Answer every failure as JSON with a code and a message naming the field."""
    try:
        return await handler(request)
    except ApiError as e:
        return error_response(e.status, e.code, e.message, e.headers)
    except DispatchError as e:
        status, code = next(((s, c) for cls, (s, c) in _DISPATCH_STATUS.items() if isinstance(e, cls)),
                            (400, "invalid"))
        return error_response(status, code, str(e))
    except web.HTTPRequestEntityTooLarge as e:
        return error_response(413, "too_large", f"body: larger than the {request.app[MAX_BODY]}-byte limit")
    except web.HTTPException as e:
        if e.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status, "http_error")
        return error_response(e.status, code, f"{request.method} {request.path}: {e.reason}")
    except StoreError as e:
        log.error("store failure on %s %s: %s", request.method, request.path, e)
        return error_response(503, "store_unavailable", f"store: {e}")
    except Exception:
        # A bug, not bad input: logged with its traceback, answered as JSON, never silenced.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "server: an internal error occurred and was logged")


def route_handler(route: Route) -> Any:
    """Wrap a route's handler with its auth check and body parsing (a public raw route needs neither)."""
    if route.roles is None and (route.body is None or route.raw_body):
        return route.handler

    async def handle(request: web.Request) -> web.StreamResponse:
        if route.roles is not None:
            who = authenticate(request)
            if who.role not in route.roles:
                raise ApiError(403, "forbidden", f"token: role {who.role.value} may not {route.method} "
                                                 f"{route.path} (needs {', '.join(sorted(r.value for r in route.roles))})")
            request[PRINCIPAL] = who
        if route.body is None or route.raw_body:
            return await route.handler(request)
        return await route.handler(request, await read_json(request, route.body))

    handle.__name__ = route.handler.__name__
    return handle


def authenticate(request: web.Request) -> Principal:
    tokens: Tokens = request.app[RUNTIME]["tokens"]
    header = request.headers.get("Authorization", "")
    value = header[7:].strip() if header[:7].lower() == "bearer " else request.query.get("token", "")
    if not value:
        raise ApiError(401, "unauthorized", "Authorization: send 'Authorization: Bearer <token>'")
    who = tokens.lookup(value)
    if who is None:
        raise ApiError(401, "unauthorized", "Authorization: the token is not known to this service")
    return who


async def read_json(request: web.Request, schema: dict[str, Any]) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        raw = b"{}"
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise bad_request(f"body: not valid JSON ({e})", "bad_json") from e
    return validate(body, schema)


# -- the application --------------------------------------------------------------------------

def create_app(config: dict[str, Any], *, runtime: dict[str, Any] | None = None) -> web.Application:
    """Build the dispatch service application.

    Parameters
    ----------
    config
        The loaded ``config.toml`` (``ems.config.load_config``), with command-line overrides applied.
    runtime
        Pre-built parts (tests pass them): ``service``, ``tokens``, ``resolve_place``,
        ``check_location``. What is missing is built at start-up from the config (the county, its
        compiled road network, the store, the token file).
    """
    max_body = int(config.get("service", {}).get("max_body_bytes", 65536))
    app = web.Application(client_max_size=max_body, middlewares=[errors_middleware])
    app[RUNTIME] = dict(runtime or {})
    app[MAX_BODY] = max_body
    app.cleanup_ctx.append(_service_ctx(config))
    extensions = load_extensions()
    for route in api.routes:
        app.router.add_route(route.method, route.path, route_handler(route))
    for module in extensions:
        if hasattr(module, "setup"):
            module.setup(app, config)
    return app


# Modules that add routes to `api` (with ``@api.route``) and may define ``setup(app, config)`` for
# their background tasks (``app.cleanup_ctx``, after the service's own) and static files.
EXTENSIONS = ("dispatch.live", "dispatch.geo_http", "dispatch.centers_http", "dispatch.sim_http", "consoles.http")


def load_extensions() -> list[Any]:
    """Import the extension modules that exist (once; their routes register on import)."""
    modules = []
    for name in EXTENSIONS:
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
    return modules


def _service_ctx(config: dict[str, Any]) -> Any:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        runtime = app[RUNTIME]
        if "service" not in runtime:
            from dispatch.bootstrap import build_runtime
            runtime.update(await build_runtime(config))
        service: DispatchService = runtime["service"]
        for side in runtime.get("side_folds", ()):
            service.add_fold(side)
        app[SERVICE] = service
        await service.start()
        try:
            yield
        finally:
            await service.close()
    return ctx


def check_location_in(boundary: Any, allow_outside: bool, max_snap: Any) -> Any:
    """Return the location check: inside the county (unless allowed) and near a road."""
    from shapely import Point as ShapelyPoint

    def check(location: tuple[float, float], field: str) -> None:
        if not allow_outside and boundary is not None and not boundary.covers(ShapelyPoint(location)):
            raise bad_request(f"{field}: ({location[0]:.6f}, {location[1]:.6f}) is outside the county "
                              "(start the service with --allow-outside to accept it)", "outside_county")
        if max_snap is not None:
            max_snap(location, field)
    return check


__all__ = ["create_app", "SERVICE", "RUNTIME", "api", "check_location_in"]
