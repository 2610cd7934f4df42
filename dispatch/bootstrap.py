"""Build the service's parts from the configuration: county, road network, router, store, tokens, fleet."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from dispatch.auth import Role, Tokens, load_tokens, write_demo_tokens
from dispatch.errors_http import bad_request
from dispatch.model import Capability
from dispatch.service import CAPABILITY_BY_KIND, DispatchService, UnitSpec
from dispatch.store import open_store
from geodata.errors import GeodataError

log = logging.getLogger(__name__)

DEMO_TOKEN_FILE = "tokens.toml"


def fleet_from_layout(layout: Any) -> list[UnitSpec]:
    """Return the units a station layout puts on the road (one per ambulance)."""
    specs = []
    for ls in layout.stations:
        station = ls.station
        capability = Capability(getattr(ls, "capability", None) or CAPABILITY_BY_KIND.get(str(station.kind), "als"))
        for unit_id in ls.unit_ids:
            specs.append(UnitSpec(unit_id=unit_id, station_id=station.id,
                                  station_location=(station.lon, station.lat), capability=capability))
    return specs


def data_dir_of(config: dict[str, Any]) -> Path:
    from ems.config import PROJECT_ROOT
    path = Path(config.get("service", {}).get("data_dir", "var"))
    return path if path.is_absolute() else PROJECT_ROOT / path


def tokens_for(config: dict[str, Any], county: Any, unit_ids: list[str]) -> tuple[Tokens, Path, bool]:
    """Load the token file, or generate the demo one in the data directory; return (tokens, path, generated)."""
    service = config.get("service", {})
    hospitals = sorted(h.id for h in county.hospitals)
    if service.get("token_file"):
        path = Path(service["token_file"])
        return load_tokens(path, known_units=set(unit_ids), known_hospitals=set(hospitals)), path, False
    path = data_dir_of(config) / DEMO_TOKEN_FILE
    generated = not path.exists()
    if generated:
        write_demo_tokens(path, unit_ids, hospitals)
    return load_tokens(path, known_units=set(unit_ids), known_hospitals=set(hospitals)), path, generated


async def build_runtime(config: dict[str, Any]) -> dict[str, Any]:
    """Load everything the service needs (the road network off the event loop)."""
    from geodata.county import load_county
    from routing.engine import Router
    from routing.network import load_network

    from dispatch.http import check_location_in

    service_cfg = config.get("service", {})
    county = load_county(config.get("county", {}).get("name", "ningxiang"))
    network = await asyncio.to_thread(load_network, county)
    router = await asyncio.to_thread(Router, network, config=config, boundary=None)
    layout = county.resolve_layout(service_cfg.get("layout", "1+5+N"))
    fleet = fleet_from_layout(layout)
    tokens, token_path, generated = tokens_for(config, county, [u.unit_id for u in fleet])
    store = open_store(service_cfg.get("db") or None, data_dir_of(config))

    def resolve_place(text: str) -> Any:
        try:
            return county.gazetteer.resolve(text)
        except GeodataError as e:  # the gazetteer's own error lists the closest names
            raise bad_request(f"location.place: {e}", "unknown_place") from e

    max_snap = router.max_snap_distance_m

    def near_road(location: tuple[float, float], field: str) -> None:
        from routing.errors import SnapError
        try:
            router.snap(*location)
        except SnapError as e:
            raise bad_request(f"{field}: {e} (more than {max_snap:.0f} m from any road)", "off_road") from e

    return {
        "county": county,
        "router": router,
        "layout": layout,
        "tokens": tokens,
        "token_path": token_path,
        "tokens_generated": generated,
        "service": DispatchService(store, router, fleet, config),
        "resolve_place": resolve_place,
        "check_location": check_location_in(county.boundary, bool(service_cfg.get("allow_outside")), near_road),
        "dispatcher_token": tokens.first(Role.DISPATCHER),
    }
