"""The HTTP edge: `build_app(config, extensions)` composes the aiohttp application of the dispatch service.

JSON in and out (orjson). Every route but ``/api/health`` needs ``Authorization: Bearer <token>``.
Bad input is answered ``4xx {"error": code, "message": "<field>: <what is wrong>"}``, never a 5xx:
the service raises domain errors and `dispatch.errors_http.answer_for` maps them, in one table.

The application is composed explicitly: the core routes below, then each extension's own route
table, its `prepare` (application keys, side folds, reactions) and its `lifespan` (background
work, after the service started). `dispatch.app` lists the extensions the service ships.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from dispatch.auth import Principal, Role
from dispatch.errors_http import ApiError, answer_for, bad_request
from dispatch.metrics import BoundCounter, BoundHistogram, Registry
from dispatch.model import Complaint, UnitStatus
from dispatch.routes import Route, RouteTable, openapi_document
from dispatch.runtime import RUNTIME, Contribution, Extension, Runtime
from dispatch.schema import parse_datetime, validate
from dispatch.service import DispatchService, utcnow
from dispatch.views import recommendations_json, unroutable_json

log = logging.getLogger(__name__)

SERVICE = web.AppKey("service", DispatchService)
MAX_BODY = web.AppKey("max_body", int)
METRICS = web.AppKey("metrics", Registry)
ROUTES = web.AppKey("routes", tuple)
PRINCIPAL = web.RequestKey("principal", Principal)
#: How often the readiness checks run in the background (for the ems_ready gauge).
READY_INTERVAL_S = 5.0

DISPATCH = {Role.DISPATCHER, Role.ADMIN}
READERS = {Role.DISPATCHER, Role.ADMIN, Role.PLANNER}
UNIT_ACTORS = {Role.DISPATCHER, Role.ADMIN, Role.CREW}
ANYONE = set(Role)

routes = RouteTable()

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
                              "reason": REASON,
                              "ranking_id": {"type": "string", "minLength": 1, "maxLength": 40,
                                             "description": "the ranked list the dispatcher chose from "
                                                            "(its first unit is the recommendation recorded)"}}}
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
UNROUTABLE = {"type": "array", "description": "units timed from their station or left out, with the reason",
              "items": {"type": "object", "properties": {
                  "unit_id": {"type": "string"}, "reason": {"type": "string"}, "message": {"type": "string"},
                  "source": {"type": ["string", "null"]}, "distance_m": {"type": ["number", "null"]}}}}
CALL_CREATED = {"type": "object", "properties": {
    "id": {"type": "string"}, "call": {"type": "object"},
    "ranking_id": {"type": "string", "description": "names this ranked list; send it with the assignment"},
    "recommendations": {"type": "array", "items": RECOMMENDATION}, "unroutable": UNROUTABLE}}


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


def runtime(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


def unit_view(request: web.Request, unit_id: str) -> dict[str, Any]:
    return request.app[RUNTIME].live.unit_view(unit_id)


def idempotency(request: web.Request, body: Any) -> tuple[str | None, str | None]:
    """Return the request's ``Idempotency-Key`` and its fingerprint (method, path, caller and body).

    A retry of the same request (same key, same fingerprint) is answered as the first one was; the
    same key on another request is refused (422). The store checks the key's form.
    """
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None, None
    digest = hashlib.sha256()
    for part in (request.method, request.path, principal(request).by):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    digest.update(orjson.dumps(body, option=orjson.OPT_SORT_KEYS))
    return key, digest.hexdigest()


async def keep_answer(service: DispatchService, key: str, response: web.Response) -> None:
    """Keep the answer given under an idempotency key, for a retry (a failure only logs: it is already durable)."""
    from dispatch.store import StoreError

    try:
        await service.store.save_response(key, response.status, bytes(response.body))
    except StoreError as e:
        log.warning("answer to idempotency key %r not kept (a retry is answered from the log): %s", key[:40], e)


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

@routes.route("GET", "/api/health", roles=None,
              summary="Liveness and state counters (no token); readiness is /api/health/ready")
async def health(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    state = service.state
    return json_response({"status": "ok", "seq": service.last_seq, "units": len(state.units),
                          "calls_open": sum(1 for c in state.calls.values() if c.ended_at is None),
                          "queued": len(state.queue)})


READY = {"type": "object", "required": ["status", "checks"], "properties": {
    "status": {"type": "string", "enum": ["ready", "not_ready"]},
    "checks": {"type": "object", "additionalProperties": {
        "type": "object", "required": ["ok", "reason"],
        "properties": {"ok": {"type": "boolean"}, "reason": {"type": "string"}}}}}}


@routes.route("GET", "/api/health/ready", roles=None, response=READY,
              summary="Readiness (no token): the store answers and its last write succeeded, the GPS backlog is "
                      "below its limit, the bus answers when configured; 503 with the failing checks' reasons")
async def ready(request: web.Request) -> web.Response:
    checks = await runtime(request).readiness.check()
    ok = all(c.ok for c in checks.values())
    response = json_response({"status": "ready" if ok else "not_ready",
                              "checks": {name: c.json() for name, c in checks.items()}}, 200 if ok else 503)
    if not ok:
        response.headers["Retry-After"] = "5"
    return response


@routes.route("GET", "/api/openapi.json", summary="This API as an OpenAPI 3 document", roles=ANYONE)
async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document(list(request.app[ROUTES]), title="ems dispatch service", version="0.1.0"))


@routes.route("POST", "/api/calls", summary="Take a 120 call; answer the ranked nearest units", roles=DISPATCH,
              body=CALL_BODY, response=CALL_CREATED, status=201, idempotent=True)
async def create_call(request: web.Request, body: dict[str, Any]) -> web.Response:
    service = request.app[SERVICE]
    places = runtime(request).places
    loc = body["location"]
    place_name = body.get("place_name")
    if "place" in loc:
        point = places.resolve(loc["place"])
        location = (point.lon, point.lat)
        place_name = place_name or point.name
    else:
        location = (float(loc["lon"]), float(loc["lat"]))
    places.check(location, "location")
    onset = body.get("symptom_onset")
    key, fingerprint = idempotency(request, body)
    if key is not None:
        stored = await service.store.response_for(key, fingerprint=fingerprint)
        if stored is not None:  # a retried request: the answer it was first given
            return web.Response(body=stored.body, status=stored.status, content_type="application/json")
    call, shown = await service.receive_call(
        location=location, complaint=body["complaint"], priority=body["priority"],
        by=principal(request).by, symptom_onset=parse_datetime(onset, "symptom_onset") if onset else None,
        caller_phone=body.get("caller_phone"), notes=body.get("notes", ""), place_name=place_name,
        key=key, fingerprint=fingerprint)
    response = json_response({"id": call.id, "call": service.call_view(service.state.calls[call.id]),
                              "ranking_id": shown.id, "recommendations": recommendations_json(shown.ranking),
                              "unroutable": unroutable_json(shown.ranking)}, 201)
    if key is not None:
        await keep_answer(service, key, response)
    return response


@routes.route("GET", "/api/calls", summary="List calls, open ones first, oldest first (?status=open|all); "
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


@routes.route("GET", "/api/calls/{call_id}", summary="One call with its event history", roles=READERS | {Role.CENTER})
async def get_call(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    call = service.get_call(request.match_info["call_id"])
    out = service.call_view(call)
    who = principal(request)
    if who.role is Role.CENTER and out.get("destination_hospital_id") != who.hospital:
        raise ApiError(403, "forbidden", f"call_id: call {call.id} is not coming to {who.hospital}")
    out["history"] = await service.call_history(call.id)
    return json_response(out)


@routes.route("GET", "/api/calls/{call_id}/recommendations", summary="Rank the available units again",
           roles=DISPATCH)
async def get_recommendations(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    shown = await service.show(request.match_info["call_id"])
    return json_response({"ranking_id": shown.id, "recommendations": recommendations_json(shown.ranking),
                          "unreachable": list(shown.ranking.unreachable),
                          "unroutable": unroutable_json(shown.ranking)})


@routes.route("POST", "/api/calls/{call_id}/assign", summary="Send a unit (a reason is required to override)",
           roles=DISPATCH, body=ASSIGN_BODY)
async def assign(request: web.Request, body: dict[str, Any]) -> web.Response:
    service = request.app[SERVICE]
    call_id = request.match_info["call_id"]
    await service.assign(call_id, body["unit_id"], by=principal(request).by, reason=body.get("reason"),
                         ranking_id=body.get("ranking_id"))
    return json_response(service.call_view(service.state.calls[call_id]))


@routes.route("POST", "/api/calls/{call_id}/cancel", summary="Cancel a call (reason required)", roles=DISPATCH,
           body=REASON_BODY)
async def cancel(request: web.Request, body: dict[str, Any]) -> web.Response:
    service = request.app[SERVICE]
    call_id = request.match_info["call_id"]
    await service.cancel(call_id, body["reason"], by=principal(request).by)
    return json_response(service.call_view(service.state.calls[call_id]))


@routes.route("POST", "/api/calls/{call_id}/close", summary="Close a finished call", roles=DISPATCH,
           body=OPTIONAL_REASON_BODY)
async def close(request: web.Request, body: dict[str, Any]) -> web.Response:
    service = request.app[SERVICE]
    call_id = request.match_info["call_id"]
    await service.close_call(call_id, by=principal(request).by, reason=body.get("reason"))
    return json_response(service.call_view(service.state.calls[call_id]))


@routes.route("GET", "/api/units", summary="List units with status, position and device id", roles=ANYONE)
async def list_units(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    who = principal(request)
    ids = sorted(service.state.units)
    if who.role is Role.CREW:
        ids = [u for u in ids if u == who.unit]
    return json_response({"units": [unit_view(request, u) for u in ids]})


@routes.route("GET", "/api/units/{unit_id}", summary="One unit", roles=ANYONE)
async def get_unit(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    unit_id = request.match_info["unit_id"]
    service.get_unit(unit_id)
    who = principal(request)
    if who.role is Role.CREW and who.unit != unit_id:
        raise ApiError(403, "forbidden", f"unit_id: a crew token for {who.unit} may not read unit {unit_id}")
    return json_response(unit_view(request, unit_id))


@routes.route("POST", "/api/units/{unit_id}/status", summary="Report a unit's status (crews: their own unit)",
           roles=UNIT_ACTORS, body=STATUS_BODY)
async def set_status(request: web.Request, body: dict[str, Any]) -> web.Response:
    service = request.app[SERVICE]
    unit_id = own_unit(request)
    await service.set_status(unit_id, body["status"], by=principal(request).by, reason=body.get("reason"))
    return json_response(unit_view(request, unit_id))


@routes.route("POST", "/api/units/{unit_id}/accept", summary="The crew accepts its assignment",
           roles=UNIT_ACTORS, body=EMPTY_BODY)
async def accept(request: web.Request, body: dict[str, Any]) -> web.Response:
    service = request.app[SERVICE]
    unit_id = own_unit(request)
    await service.accept(unit_id, by=principal(request).by)
    return json_response(unit_view(request, unit_id))


@routes.route("POST", "/api/units/{unit_id}/decline", summary="The crew declines its assignment (reason required)",
           roles=UNIT_ACTORS, body=REASON_BODY)
async def decline(request: web.Request, body: dict[str, Any]) -> web.Response:
    service = request.app[SERVICE]
    unit_id = own_unit(request)
    await service.decline(unit_id, body["reason"], by=principal(request).by)
    return json_response(unit_view(request, unit_id))


# -- middleware -------------------------------------------------------------------------------

@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Answer every failure as JSON with a code and a message naming the field."""
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, "too_large", f"body: larger than the {request.app[MAX_BODY]}-byte limit")
    except web.HTTPException as e:
        if e.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status, "http_error")
        return error_response(e.status, code, f"{request.method} {request.path}: {e.reason}")
    except Exception as e:
        answer = answer_for(e)
        if answer is None:
            # A bug, not bad input: logged with its traceback, answered as JSON, never silenced.
            log.exception("unhandled error on %s %s", request.method, request.path)
            return error_response(500, "internal", "server: an internal error occurred and was logged")
        return error_response(answer.status, answer.code, answer.message, answer.headers)


def timing_middleware(registry: Registry) -> Any:
    """Count and time every request by method, route and status (``/metrics``)."""
    latency = registry.histogram("ems_http_request_duration_seconds", "HTTP request latency",
                                 ["method", "route", "status"])
    requests = registry.counter("ems_http_requests_total", "HTTP requests", ["method", "route", "status"])
    # The series of each (method, route, status), found once: the labels are not formatted per request.
    series: dict[tuple[str, Any, int], tuple[BoundHistogram | None, BoundCounter]] = {}

    @web.middleware
    async def timing(request: web.Request, handler: Any) -> web.StreamResponse:
        start = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as e:
            status = e.status
            raise
        finally:
            resource = request.match_info.route.resource
            key = (request.method, resource, status)
            bound = series.get(key)
            if bound is None:
                route = resource.canonical if resource is not None else "unmatched"
                labels = (request.method, route, str(status))
                bound = series[key] = (latency.series(*labels) if route != "/ws" else None,
                                       requests.series(*labels))
            if bound[0] is not None:
                bound[0].observe(time.perf_counter() - start)
            bound[1].inc()

    return timing


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
    tokens = request.app[RUNTIME].tokens
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

def build_app(config: Mapping[str, Any], extensions: Sequence[Extension], *,
              clock: Callable[[], datetime] = utcnow, fleet: Callable[[Any], Iterable[Any]] | None = None
              ) -> web.Application:
    """Compose the dispatch service application from the core routes and the given extensions.

    Parameters
    ----------
    config
        The loaded ``config.toml`` (``ems.config.load_config``), with command-line overrides applied.
    extensions
        The optional parts, in order (`dispatch.app.extensions_for` chooses them from the config).
    clock, fleet
        The service's clock and the fleet built from the layout (tests and benchmarks pass their own).

    The county, its compiled road network, the store and the token file are loaded at start-up.
    """
    config = dict(config)
    max_body = int(config.get("service", {}).get("max_body_bytes", 65536))
    registry = Registry()
    app = web.Application(client_max_size=max_body, middlewares=[timing_middleware(registry), errors_middleware])
    app[MAX_BODY] = max_body
    app[METRICS] = registry
    app[ROUTES] = routes_of(extensions)
    for route in app[ROUTES]:
        app.router.add_route(route.method, route.path, route_handler(route))
    contributions = [ext.prepare(app, config) if ext.prepare is not None else Contribution() for ext in extensions]
    features = {f for ext in extensions for f in ext.features}
    app.cleanup_ctx.append(_service_ctx(config, registry, contributions, features, clock, fleet))
    for ext in extensions:
        if ext.lifespan is not None:
            app.cleanup_ctx.append(_extension_ctx(ext))
    return app


def routes_of(extensions: Sequence[Extension]) -> tuple[Route, ...]:
    """Return the core routes and the extensions' routes, in the order they are served."""
    return tuple(route for table in (routes, *(ext.routes for ext in extensions)) for route in table.routes)


def _service_ctx(config: dict[str, Any], registry: Registry, contributions: list[Contribution],
                 features: set[str], clock: Callable[[], datetime], fleet: Any) -> Any:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        from dispatch.bootstrap import build_runtime, fleet_from_layout

        rt = await build_runtime(config, metrics=registry, contributions=contributions, features=features,
                                 clock=clock, fleet=fleet or fleet_from_layout)
        app[RUNTIME] = rt
        app[SERVICE] = rt.service
        await rt.bus.connect()
        await rt.service.start()
        await rt.live.load()
        await rt.bus.start(rt.service.fold_remote, rt.live.apply_remote)
        if rt.service.write_guard is not None:
            await rt.service.catch_up()
        await rt.readiness.check()
        probe = asyncio.create_task(every(READY_INTERVAL_S, rt.readiness.check), name="readiness")
        try:
            yield
        finally:
            probe.cancel()
            await asyncio.gather(probe, return_exceptions=True)
            await rt.bus.close()
            await rt.live.flush()
            rt.live.close()
            await rt.service.close()
    return ctx


async def every(interval_s: float, job: Any, first: float | None = None) -> None:
    """Run ``job()`` every ``interval_s`` (the first time after ``first``); a failure is logged and retried."""
    await asyncio.sleep(interval_s if first is None else first)
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background job %s failed; retried in %g s", getattr(job, "__name__", job), interval_s)
        await asyncio.sleep(interval_s)


def _extension_ctx(ext: Extension) -> Any:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        assert ext.lifespan is not None
        async with ext.lifespan(app, app[RUNTIME]):
            yield
    return ctx


__all__ = ["build_app", "routes_of", "SERVICE", "METRICS", "routes", "json_response", "principal", "runtime", "own_unit",
           "unit_view", "errors_middleware", "DISPATCH", "READERS", "UNIT_ACTORS", "ANYONE"]
