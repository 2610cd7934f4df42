"""The county as the consoles draw it: GeoJSON, gazetteer typeahead, layouts, and a unit's route.

There are no map tiles in an offline dispatch room, so the consoles draw the county from
``GET /api/geo/county``: the boundary, the roads by class, the settlements, the stations and the
hospitals, each a GeoJSON FeatureCollection in WGS84 ``(lon, lat)``. A county's road network has
tens of thousands of directed edges; the payload draws each two-way road once, simplifies its
geometry (Douglas-Peucker, `ROAD_TOLERANCE_DEG`), rounds coordinates to `COORD_DECIMALS` and merges
a class into one MultiLineString. It is built once per process (off the event loop), kept in
memory with its gzip form, and answered with an ETag.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import shapely
from aiohttp import web

from dispatch.auth import Role
from dispatch.errors_http import ApiError, bad_request
from dispatch.http import ANYONE, SERVICE, json_response, principal
from dispatch.routes import RouteTable
from dispatch.runtime import RUNTIME, Contribution, Extension
from dispatch.model import UnitStatus

# 5 decimals of a degree is about 1 m: finer than a console can show, coarser than GPS noise.
COORD_DECIMALS = 5
# Road geometry simplification: 0.00005 degree is about 5 m, under a pixel at street zoom (z16).
ROAD_TOLERANCE_DEG = 0.00005
BOUNDARY_TOLERANCE_DEG = 0.0001
# "major" roads: what a phone draws under a route (motorway .. tertiary; RoadClass codes 0-4).
MAJOR_MAX_CODE = 4
SEARCH_LIMIT_MAX = 50
# A unit heading to the scene has a route; the destination hospital is chosen by the centers.
ROUTED_STATUSES = frozenset({UnitStatus.DISPATCHED, UnitStatus.EN_ROUTE})
GZIP_LEVEL = 6

GEO_CACHE = web.AppKey("geo_cache", dict)
GEO_LOCK = web.AppKey("geo_lock", asyncio.Lock)
READ_GEO = set(Role)


@dataclass(frozen=True, slots=True)
class Payload:
    """A JSON body kept in memory, with its gzip form and an entity tag."""

    raw: bytes
    gzipped: bytes
    etag: str

    @classmethod
    def of(cls, data: Any) -> Payload:
        """Encode ``data`` as JSON and gzip it."""
        raw = orjson.dumps(data)
        digest = hashlib.sha256(raw).hexdigest()[:20]
        return cls(raw, gzip.compress(raw, compresslevel=GZIP_LEVEL, mtime=0), f'"{digest}"')


# -- GeoJSON builders (pure) ---------------------------------------------------------------------

def _round(coords: np.ndarray) -> list[list[float]]:
    return np.round(np.asarray(coords, dtype=float), COORD_DECIMALS).tolist()


def _point(lon: float, lat: float, properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": _round(np.array([lon, lat]))},
            "properties": properties}


def _collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def road_features(network: Any, *, major_only: bool = False,
                  tolerance_deg: float = ROAD_TOLERANCE_DEG) -> list[dict[str, Any]]:
    """Return one MultiLineString Feature per road class, each two-way road drawn once.

    Parameters
    ----------
    network
        A `routing.network.RoadNetwork`.
    major_only
        Keep motorway to tertiary roads only.
    tolerance_deg
        Douglas-Peucker tolerance (degrees); 0 keeps every vertex.

    Returns
    -------
    list of dict
        Features ordered from the most important class, with properties ``class`` (the
        `routing.profiles.RoadClass` name, lowercase), ``code`` and ``edges``.
    """
    from routing.profiles import RoadClass

    n_edges = network.n_edges
    edges = np.arange(n_edges)
    twin = np.asarray(network.twin)
    once = (twin == edges) | (edges < twin)
    classes = np.asarray(network.road_class)
    offsets = np.asarray(network.geom_offsets)
    coords = np.asarray(network.geom_coords)
    features = []
    for road_class in RoadClass:
        if major_only and road_class.value > MAJOR_MAX_CODE:
            continue
        chosen = edges[once & (classes == road_class.value)]
        if chosen.size == 0:
            continue
        counts = offsets[chosen + 1] - offsets[chosen]
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        index = np.repeat(offsets[chosen], counts) + within
        lines = shapely.linestrings(coords[index], indices=np.repeat(np.arange(chosen.size), counts))
        if tolerance_deg > 0:
            lines = shapely.simplify(lines, tolerance_deg, preserve_topology=False)
        xy, line_of = shapely.get_coordinates(lines, return_index=True)
        xy = np.round(xy, COORD_DECIMALS)
        # drop a vertex that rounds onto the one before it on the same line
        keep = np.ones(len(xy), dtype=bool)
        keep[1:] = np.any(xy[1:] != xy[:-1], axis=1) | (line_of[1:] != line_of[:-1])
        xy, line_of = xy[keep], line_of[keep]
        cuts = np.flatnonzero(np.diff(line_of)) + 1
        parts = [p.tolist() for p in np.split(xy, cuts) if len(p) >= 2]
        features.append({"type": "Feature",
                         "geometry": {"type": "MultiLineString", "coordinates": parts},
                         "properties": {"class": road_class.name.lower(), "code": int(road_class.value),
                                        "edges": len(parts)}})
    return features


def boundary_feature(county: Any, tolerance_deg: float = BOUNDARY_TOLERANCE_DEG) -> dict[str, Any]:
    """Return the county boundary as a Feature, simplified and rounded."""
    geometry = county.boundary
    if tolerance_deg > 0:
        geometry = shapely.simplify(geometry, tolerance_deg, preserve_topology=True)
    geometry = shapely.set_precision(geometry, 10.0 ** -COORD_DECIMALS)
    return {"type": "Feature", "geometry": shapely.geometry.mapping(geometry),
            "properties": {"name": county.name, "name_en": county.name_en,
                           "hull": bool(county.boundary_is_hull)}}


def settlement_features(county: Any) -> list[dict[str, Any]]:
    """Return the places of the county as Point Features (the county seat and towns first)."""
    order = {"county": 0, "town": 1, "village": 2, "generated": 3}
    places = sorted(county.places, key=lambda p: (order.get(str(p.kind), 9), p.id))
    return [_point(p.lon, p.lat, {"id": p.id, "name": p.name, "kind": str(p.kind),
                                  "township": p.township, "urban": bool(p.urban)}) for p in places]


def station_features(county: Any) -> list[dict[str, Any]]:
    """Return every station (of facilities.toml and of every layout) with the layouts that use it."""
    stations: dict[str, Any] = {s.id: s for s in county.stations}
    used: dict[str, list[str]] = {}
    for name, layout in sorted(county.layouts.items()):
        for ls in layout.stations:
            stations.setdefault(ls.station.id, ls.station)
            used.setdefault(ls.station.id, []).append(name)
    return [_point(s.lon, s.lat, {"id": s.id, "name": s.name, "kind": str(s.kind), "hospital": s.hospital,
                                  "layouts": used.get(s.id, [])}) for s in stations.values()]


def hospital_features(county: Any) -> list[dict[str, Any]]:
    """Return the hospitals with their capabilities."""
    return [_point(h.lon, h.lat, {"id": h.id, "name": h.name, "capabilities": sorted(h.capabilities),
                                  "pci_24_7": bool(h.pci_24_7), "assumed": bool(h.assumed)})
            for h in county.hospitals]


def county_geojson(county: Any, network: Any | None, *, major_only: bool = False) -> dict[str, Any]:
    """Return everything a console draws of the county.

    Returns
    -------
    dict
        ``name``, ``name_en``, ``bbox`` (min lon, min lat, max lon, max lat) and the
        FeatureCollections ``boundary``, ``roads`` (one Feature per class), ``settlements``,
        ``stations``, ``hospitals``. ``roads`` is empty when no network is loaded.
    """
    boundary = boundary_feature(county)
    x0, y0, x1, y1 = county.boundary.bounds
    return {
        "name": county.name,
        "name_en": county.name_en,
        "bbox": [round(x0, COORD_DECIMALS), round(y0, COORD_DECIMALS),
                 round(x1, COORD_DECIMALS), round(y1, COORD_DECIMALS)],
        "boundary": _collection([boundary]),
        "roads": _collection(road_features(network, major_only=major_only) if network is not None else []),
        "settlements": _collection(settlement_features(county)),
        "stations": _collection(station_features(county)),
        "hospitals": _collection(hospital_features(county)),
        "attribution": county.attribution,
    }


def layouts_json(county: Any) -> list[dict[str, Any]]:
    """Return the county's station layouts with their stations, ambulances and unit ids."""
    out = []
    for name, layout in sorted(county.layouts.items()):
        out.append({"name": name, "description": layout.description, "ambulances": layout.ambulances,
                    "staff": layout.staff,
                    "stations": [{"id": ls.station.id, "name": ls.station.name, "kind": str(ls.station.kind),
                                  "lon": ls.station.lon, "lat": ls.station.lat, "ambulances": ls.ambulances,
                                  "staff": ls.staff, "unit_ids": list(ls.unit_ids)} for ls in layout.stations]})
    return out


# -- routes --------------------------------------------------------------------------------------

routes = RouteTable()


def _county(request: web.Request) -> Any:
    return request.app[RUNTIME].county


def _network(request: web.Request) -> Any | None:
    return getattr(request.app[RUNTIME].router, "network", None)


async def _cached(app: web.Application, key: str, build: Any) -> Payload:
    cache = app[GEO_CACHE]
    if key not in cache:
        async with app[GEO_LOCK]:
            if key not in cache:
                cache[key] = await asyncio.to_thread(lambda: Payload.of(build()))
    return cache[key]


def payload_response(request: web.Request, payload: Payload) -> web.Response:
    """Answer a cached payload: 304 on a matching ETag, gzip when the client takes it."""
    headers = {"ETag": payload.etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if payload.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return web.Response(body=payload.gzipped, headers=headers, content_type="application/json")
    return web.Response(body=payload.raw, headers=headers, content_type="application/json")


@routes.route("GET", "/api/geo/county", tag="geo", roles=READ_GEO,
           summary="The county to draw: boundary, roads by class, settlements, stations, hospitals (GeoJSON)")
async def geo_county(request: web.Request) -> web.Response:
    detail = request.query.get("roads", "all")
    if detail not in ("all", "major"):
        raise bad_request(f"roads: must be all or major, got {detail!r}")
    county, network = _county(request), _network(request)
    payload = await _cached(request.app, f"county:{detail}",
                            lambda: county_geojson(county, network, major_only=detail == "major"))
    return payload_response(request, payload)


@routes.route("GET", "/api/geo/search", tag="geo", roles=READ_GEO,
           summary="Gazetteer typeahead: places, hospitals and stations whose name or pinyin starts with q")
async def geo_search(request: web.Request) -> web.Response:
    county = _county(request)
    q = request.query.get("q", "")
    if len(q) > 100:
        raise bad_request(f"q: at most 100 characters, got {len(q)}")
    raw_limit = request.query.get("limit", "10")
    try:
        limit = int(raw_limit)
    except ValueError:
        raise bad_request(f"limit: must be an integer 1-{SEARCH_LIMIT_MAX}, got {raw_limit!r}") from None
    if not 1 <= limit <= SEARCH_LIMIT_MAX:
        raise bad_request(f"limit: must be 1-{SEARCH_LIMIT_MAX}, got {limit}")
    found = county.gazetteer.search(q, limit) if q.strip() else []
    return json_response({"q": q, "results": [
        {"name": p.name, "lon": p.lon, "lat": p.lat, "kind": str(p.kind), "id": p.id, "township": p.township}
        for p in found]})


@routes.route("GET", "/api/layouts", tag="geo", roles=READ_GEO,
           summary="The county's station layouts with their stations and units")
async def layouts(request: web.Request) -> web.Response:
    county = _county(request)
    active = request.app[RUNTIME].layout
    return json_response({"active": getattr(active, "name", None), "layouts": layouts_json(county)})


@routes.route("GET", "/api/units/{unit_id}/route", tag="geo", roles=ANYONE,
           summary="Where a unit is sent and how: its call, route from its last fix (or station) and ETA")
async def unit_route(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    unit_id = request.match_info["unit_id"]
    unit = service.get_unit(unit_id)
    who = principal(request)
    if who.role is Role.CREW and who.unit != unit_id:
        raise ApiError(403, "forbidden", f"unit_id: a crew token for {who.unit} may not read unit {unit_id}")
    now = service.clock()
    out: dict[str, Any] = {"unit_id": unit_id, "status": unit.status.value, "call": None, "origin": None,
                           "destination": None, "route": None, "eta_s": None, "travel_s": None,
                           "turnout_s": None, "distance_m": None,
                           "computed_at": now.isoformat(), "problem": None}
    if unit.current_call is None:
        return json_response(out)
    call = service.state.calls[unit.current_call]
    out["call"] = service.call_view(call)
    fix = service.positions.get(unit_id)
    origin = fix[0] if fix else unit.station_location
    out["origin"] = {"lon": origin[0], "lat": origin[1], "source": "gps" if fix else "station",
                     "at": fix[1].isoformat() if fix else None}
    if unit.status not in ROUTED_STATUSES:
        return json_response(out)
    out["destination"] = {"lon": call.location[0], "lat": call.location[1], "kind": "scene"}
    router = request.app[RUNTIME].router
    from routing.errors import RoutingError
    try:
        # at the local hour's time-of-day factor, as the recommendation that sent the unit
        route = await asyncio.to_thread(router.route, tuple(origin), tuple(call.location),
                                        hour=service.local_hour())
    except RoutingError as e:
        out["problem"] = str(e)
        return json_response(out)
    feature = route.geojson()
    feature["geometry"]["coordinates"] = _round(np.asarray(feature["geometry"]["coordinates"]))
    turnout_s = _turnout_left_s(service, unit, call.id, now)
    out.update(route=feature, travel_s=round(route.travel_time_s, 1), turnout_s=round(turnout_s, 1),
               eta_s=round(route.travel_time_s + turnout_s, 1), distance_m=round(route.distance_m, 1))
    return json_response(out)


def _turnout_left_s(service: Any, unit: Any, call_id: str, now: Any) -> float:
    """Return what is left of a dispatched unit's turnout delay (0 once it has accepted).

    The recommendation that sent the unit counted the same delay (``dispatch.turnout_s`` by the
    unit's status before the assignment), so the ETA on the map matches the one it was sent with.
    """
    if unit.status is not UnitStatus.DISPATCHED:
        return 0.0
    assignment = service.state.current_assignment(call_id)
    if assignment is None:
        return 0.0
    turnout = float(service.policy_config.turnout_s.get(assignment.unit_prior_status, 0.0))
    return max(0.0, turnout - (now - assignment.assigned_at).total_seconds())


def prepare(app: web.Application, config: Any) -> Contribution:
    """Give the application its in-memory cache of county payloads."""
    app[GEO_CACHE] = {}
    app[GEO_LOCK] = asyncio.Lock()
    return Contribution()


EXTENSION = Extension("geo", routes, prepare=prepare)

__all__ = ["EXTENSION", "county_geojson", "road_features", "layouts_json", "Payload", "payload_response"]
