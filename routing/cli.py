"""The ``ems route`` command: the fastest route between two places of a county."""

from __future__ import annotations

import argparse
import json
from typing import Any

from routing.errors import RoutingError


def register(subparsers: Any) -> None:
    """Add ``ems route`` to the ``ems`` command's subparsers."""
    p = subparsers.add_parser(
        "route",
        help="fastest route between two places (names or lon,lat)",
        description="Print the distance and travel time of the fastest route between two places of "
        "the county; --json prints the route as a GeoJSON Feature.",
    )
    p.add_argument("--from", dest="origin", required=True, metavar="A", help="place name (Chinese or pinyin) or 'lon,lat'")
    p.add_argument("--to", dest="destination", required=True, metavar="B", help="place name or 'lon,lat'")
    p.add_argument("--county", metavar="NAME|DIR", help="county (default: [county] name of the config)")
    p.add_argument("--profile", choices=("emergency", "normal"), help="speed profile (default: [routing] default_profile)")
    p.add_argument("--hour", type=int, metavar="H", help="local hour 0-23 for the time-of-day factor")
    p.add_argument("--json", action="store_true", help="print a GeoJSON Feature instead of text")
    p.set_defaults(func=run_route)


def run_route(args: argparse.Namespace) -> int:
    """Run ``ems route``; return the exit status."""
    from ems.config import load_config
    from geodata.county import load_county

    from routing.engine import Router
    from routing.network import load_network

    if args.hour is not None and not 0 <= args.hour <= 23:
        raise RoutingError(f"--hour must be 0-23, got {args.hour}")
    config = load_config(getattr(args, "config", None))
    county = load_county(args.county or config.get("county", {}).get("name", "ningxiang"))
    origin = county.gazetteer.resolve(args.origin)
    destination = county.gazetteer.resolve(args.destination)
    profile = args.profile or config.get("routing", {}).get("default_profile", "emergency")
    network = load_network(county, progress=not args.json)
    router = Router(network, profile=profile, config=config, boundary=county.boundary)
    a = _snap(router, origin, "--from")
    b = _snap(router, destination, "--to")
    route = router.route(a, b, hour=args.hour)
    if args.json:
        feature = route.geojson()
        feature["properties"].update(
            {
                "from": {"name": origin.name, "lon": origin.lon, "lat": origin.lat},
                "to": {"name": destination.name, "lon": destination.lon, "lat": destination.lat},
                "hour": args.hour,
            }
        )
        print(json.dumps(feature, ensure_ascii=False))
        return 0
    print(f"from: {origin.name} ({origin.lon:.5f}, {origin.lat:.5f}), {a.distance_m:.0f} m to the road")
    print(f"to:   {destination.name} ({destination.lon:.5f}, {destination.lat:.5f}), {b.distance_m:.0f} m to the road")
    print(f"profile: {route.profile.value}" + (f", hour {args.hour}" if args.hour is not None else ""))
    print(f"distance_m: {route.distance_m:.1f}  ({route.distance_m / 1000:.1f} km)")
    print(f"travel_time_s: {route.travel_time_s:.1f}  ({route.travel_time_s / 60:.1f} min)")
    return 0


def _snap(router: Any, point: Any, flag: str) -> Any:
    from routing.errors import SnapError

    try:
        return router.snap(point.lon, point.lat)
    except SnapError as e:
        raise SnapError(f"{flag} {point.name}: {e}", lon=e.lon, lat=e.lat, distance_m=e.distance_m) from e
