"""Live positions and streams at the HTTP edge: GPS intake, the websocket hub and ``/metrics``.

The ``live`` extension (`EXTENSION`): its route table, and a lifespan running the background tasks
around the instance's `dispatch.positions.Live` (built with the runtime): the store flusher (about
once a second), the consoles' position frames (every ``ws_position_interval_s``), stale units, live
ETAs, history pruning and, with a bus, the log poll.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from dispatch import gps
from dispatch.errors_http import ApiError
from dispatch.gps import GpsError
from dispatch.http import MAX_BODY, METRICS, SERVICE, UNIT_ACTORS, errors_middleware, every, json_response, own_unit
from dispatch.metrics import CONTENT_TYPE
from dispatch.positions import FLUSH_SLICE_ROWS, MAX_PENDING_ROWS, Live, LiveConfig, UnitLive
from dispatch.routes import RouteTable
from dispatch.runtime import RUNTIME, Extension, Runtime
from dispatch.service import DispatchService

log = logging.getLogger(__name__)

routes = RouteTable()

# -- routes -----------------------------------------------------------------------------------

def live_of(request: web.Request) -> Live:
    return request.app[RUNTIME].live


POSITIONS_BODY: dict[str, Any] = {
    "description": "One fix, a list of fixes, or {\"fixes\": [...]} (at most 1000).",
    "oneOf": [{"type": "object", "required": ["lon", "lat", "timestamp"], "properties": {
        "lon": {"type": "number"}, "lat": {"type": "number"},
        "timestamp": {"type": ["string", "number"], "description": "ISO 8601 with a zone, or epoch seconds"},
        "speed_mps": {"type": "number"}, "heading_deg": {"type": "number"}, "accuracy_m": {"type": "number"},
        "altitude_m": {"type": "number"}, "battery": {"type": "number", "description": "percent"}}},
        {"type": "object", "required": ["fixes"], "properties": {"fixes": {"type": "array"}}}],
}


@routes.route("POST", "/api/units/{unit_id}/positions", summary="Report GPS fixes of a unit (one or a batch)",
           roles=UNIT_ACTORS, body=POSITIONS_BODY, raw_body=True, tag="live")
async def post_positions(request: web.Request) -> web.Response:
    unit_id = own_unit(request)
    raw = await request.read()
    try:
        fixes = gps.parse_json_fixes(orjson.loads(raw))
    except orjson.JSONDecodeError as e:
        raise ApiError(400, "bad_json", f"body: not valid JSON ({e})") from e
    except GpsError as e:
        raise ApiError(400, "invalid", str(e)) from e
    live = live_of(request)
    live.check_backlog("json", len(fixes))
    outcome = live.ingest(unit_id, fixes, "json")
    rejected = [{"index": i, "reason": r.value} for i, r in enumerate(outcome) if r is not None]
    return json_response({"accepted": len(fixes) - len(rejected), "rejected": rejected})


@routes.route("GET", "/osmand", summary="OsmAnd protocol (Traccar Client): id, lat, lon, timestamp, speed (knots)…",
           roles=None, raw_body=True, tag="live")
@routes.route("POST", "/osmand", summary="OsmAnd protocol: query/form fields, or Traccar Client's JSON body",
           roles=None, raw_body=True, tag="live")
async def osmand(request: web.Request) -> web.Response:
    """Take one fix in the OsmAnd protocol (Traccar Client); answer 200 with an empty body."""
    live = live_of(request)
    now = live.service.clock()
    try:
        if request.method != "GET" and request.content_type == "application/json":
            raw = await request.read()
            try:
                fix = gps.parse_osmand_json(orjson.loads(raw))
            except orjson.JSONDecodeError as e:
                raise ApiError(400, "bad_json", f"body: not valid JSON ({e})") from e
            source = "osmand_json"
        else:
            params = gps.parse_query(request.rel_url.raw_query_string)
            if request.method == "POST" and request.can_read_body:
                body = await request.read()
                if body:
                    # Traccar Client posts the fields in the query string and an empty body; a form
                    # body is read the same way, its fields winning.
                    params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            fix = gps.parse_osmand(params, now)
            source = "osmand"
    except GpsError as e:
        raise ApiError(400, "invalid", str(e)) from e
    unit_id = live.unit_of_device(fix.device_id or "")
    live.check_backlog(source)
    # Filtered fixes are answered 200 too: the app would otherwise resend a bad fix forever.
    live.ingest(unit_id, [fix], source, now)
    return web.Response(status=200)


@routes.route("GET", "/ws", summary="Websocket stream (token in the query or the first message; docs/protocol.md)",
           roles=None, tag="live")
async def websocket(request: web.Request) -> web.StreamResponse:
    return await live_of(request).hub.handle(request, request.app[RUNTIME].tokens)


@routes.route("GET", "/metrics", summary="Prometheus metrics (text format)", roles=None, tag="live")
async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[METRICS].render().encode(), headers={"Content-Type": CONTENT_TYPE})


# -- background work --------------------------------------------------------------------------

@asynccontextmanager
async def live_tasks(app: web.Application, rt: Runtime) -> AsyncIterator[None]:
    """Run the live positions' background tasks (and the OsmAnd port) while the service runs."""
    live, service, settings = rt.live, rt.service, rt.live.config
    tasks = [asyncio.create_task(every(settings.flush_interval_s, live.flush), name="gps-flush"),
             asyncio.create_task(every(min(5.0, settings.stale_after_s / 4), _sync(live.check_stale)),
                                 name="gps-stale"),
             asyncio.create_task(every(min(1.0, settings.eta_interval_s), live.update_etas), name="gps-eta"),
             asyncio.create_task(every(3600.0, live.prune, first=0.0), name="gps-prune"),
             asyncio.create_task(every(min(1.0, settings.ws_send_timeout_s / 4), live.hub.watchdog),
                                 name="ws-watchdog"),
             asyncio.create_task(every(settings.ws_position_interval_s, _sync(live.hub.flush_positions)),
                                 name="ws-positions")]
    if service.write_guard is not None:
        tasks.append(asyncio.create_task(every(settings.catch_up_interval_s, _poll_log(service)),
                                         name="log-poll"))
    runner = await _start_osmand_port(app, settings, rt.config)
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if runner is not None:
            await runner.cleanup()
        await asyncio.gather(*(client.close(1001, "server shutting down") for client in list(live.hub.clients)))


def _sync(fn: Any) -> Any:
    async def run() -> Any:
        return fn()
    return run


def _poll_log(service: DispatchService) -> Any:
    async def poll() -> None:
        if await service.store.last_seq() > service.last_seq:
            await service.catch_up()
    return poll


async def _start_osmand_port(app: web.Application, settings: LiveConfig,
                             config: Mapping[str, Any]) -> web.AppRunner | None:
    """Serve the OsmAnd protocol on its own port too (Traccar's default is 5055), at any path."""
    if settings.osmand_port is None:
        return None
    side = web.Application(middlewares=[errors_middleware])
    side[RUNTIME] = app[RUNTIME]
    side[SERVICE] = app[SERVICE]
    side[MAX_BODY] = app[MAX_BODY]
    side.router.add_route("*", "/{tail:.*}", osmand)
    runner = web.AppRunner(side, access_log=None)
    await runner.setup()
    host = str((config.get("service", {}) or {}).get("host", "127.0.0.1"))
    await web.TCPSite(runner, host, settings.osmand_port).start()
    log.info("OsmAnd protocol also on http://%s:%d/", host, settings.osmand_port)
    return runner


EXTENSION = Extension("live", routes, features=("websocket", "positions"), lifespan=live_tasks)

__all__ = ["EXTENSION", "FLUSH_SLICE_ROWS", "MAX_PENDING_ROWS", "Live", "LiveConfig", "UnitLive", "live_tasks"]
