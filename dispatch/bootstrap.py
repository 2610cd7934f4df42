"""Build the service's parts from the configuration: county, road network, router, store, tokens, fleet.

`build_runtime` is the one place the parts are made and wired: the dispatch service gets its side
folds, reactions, writer lock and positions as constructor arguments; the live positions, the bus
announcer and the hub subscribe to it here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from dispatch.auth import Tokens, load_tokens, write_demo_tokens
from dispatch.bus import LocalBus, announcer, open_bus
from dispatch.health import Readiness
from dispatch.metrics import Registry
from dispatch.model import Capability
from dispatch.places import Places
from dispatch.positions import Live, LiveConfig
from dispatch.runtime import Contribution, Runtime, TokenFile
from dispatch.service import CAPABILITY_BY_KIND, DispatchService, Positions, UnitSpec, utcnow
from dispatch.store import StoreDeadlines, open_store

log = logging.getLogger(__name__)

DEMO_TOKEN_FILE = "tokens.toml"

#: Builds the fleet from the station layout (tests and benchmarks pass their own).
FleetBuilder = Callable[[Any], Iterable[UnitSpec]]


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


def data_dir_of(config: Mapping[str, Any]) -> Path:
    from ems.config import PROJECT_ROOT
    path = Path(config.get("service", {}).get("data_dir", "var"))
    return path if path.is_absolute() else PROJECT_ROOT / path


def tokens_for(config: Mapping[str, Any], county: Any, unit_ids: list[str]) -> tuple[Tokens, TokenFile]:
    """Load the token file, or generate the demo one in the data directory."""
    service = config.get("service", {})
    hospitals = sorted(h.id for h in county.hospitals)
    if service.get("token_file"):
        path = Path(service["token_file"])
        return load_tokens(path, known_units=set(unit_ids), known_hospitals=set(hospitals)), TokenFile(path)
    path = data_dir_of(config) / DEMO_TOKEN_FILE
    generated = not path.exists()
    if generated:
        write_demo_tokens(path, unit_ids, hospitals)
    return load_tokens(path, known_units=set(unit_ids), known_hospitals=set(hospitals)), TokenFile(path, generated)


async def build_runtime(config: Mapping[str, Any], *, metrics: Registry | None = None,
                        contributions: Sequence[Contribution] = (), features: Iterable[str] = (),
                        clock: Callable[[], datetime] = utcnow, fleet: FleetBuilder = fleet_from_layout) -> Runtime:
    """Load and wire everything the service needs (the road network off the event loop).

    Parameters
    ----------
    config
        The loaded configuration.
    metrics
        The registry the parts count into (a new one when None).
    contributions
        The extensions' side folds and reactions, given to the dispatch service.
    features
        The capabilities of the enabled extensions.
    clock, fleet
        The service's clock and the fleet built from the layout (tests and benchmarks pass their own).
    """
    from geodata.county import load_county
    from routing.engine import Router
    from routing.network import load_network

    config = dict(config)
    service_cfg = config.get("service", {})
    metrics = metrics if metrics is not None else Registry()
    county = load_county(config.get("county", {}).get("name", "ningxiang"))
    network = await asyncio.to_thread(load_network, county)
    router = await asyncio.to_thread(Router, network, config=config, boundary=None)
    layout = county.resolve_layout(service_cfg.get("layout", "1+5+N"))
    units = list(fleet(layout))
    tokens, token_file = tokens_for(config, county, [u.unit_id for u in units])
    store = open_store(service_cfg.get("db") or None, data_dir_of(config),
                       deadlines=StoreDeadlines.from_config(config))
    live_config = LiveConfig.from_config(config)
    bus = open_bus(live_config.bus, live_config.bus_namespace)
    positions: Positions = {}
    service = DispatchService(store, router, units, config, clock=clock,
                              side_folds=[f for c in contributions for f in c.side_folds],
                              reactions=[r for c in contributions for r in c.reactions],
                              write_guard=bus.write_guard(), positions=positions)
    live = Live(service, positions, county, live_config, metrics, bus)
    if type(bus) is not LocalBus:  # the in-process bus has nobody to tell
        service.subscribe(announcer(bus))
    places = Places(gazetteer=county.gazetteer, boundary=county.boundary,
                    allow_outside=bool(service_cfg.get("allow_outside")), router=router)
    return Runtime(config=config, county=county, router=router, layout=layout, tokens=tokens, token_file=token_file,
                   service=service, live=live, bus=bus, metrics=metrics, places=places,
                   readiness=Readiness(service, live, bus, metrics), features=frozenset(features))
