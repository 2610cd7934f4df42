"""Turn a county and its station layouts into simulation scenarios that share one travel model.

All layouts of a comparison share the demand points, the hospitals and one set of travel
tables (the union of their stations; one table per time-of-day factor, `simulation.travel_hours`):
the only thing that differs between them is where the ambulances wait, and the common random
numbers of `simulation.demand` do the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from centers.destination import DestinationConfig
from dispatch.policy import DispatchConfig
from simulation.config import SimulationConfig
from simulation.demand import county_demand, read_calls_csv
from simulation.errors import ScenarioError
from simulation.model import Scenario, hospital_site_id, station_site_id, units_for_layout
from simulation.travel import Site, TravelModel
from simulation.travel_hours import HourlyTravel, factor_hours, hourly_network_travel


def resolve_layout(county: Any, name_or_path: str) -> Any:
    """Return the county's layout called ``name_or_path``, or the layout TOML file at that path.

    Raises
    ------
    GeodataError
        Neither a layout of the county nor a readable layout file (the message lists the known ones).
    """
    return county.resolve_layout(name_or_path)


def layout_sites(layouts: Sequence[Any], hospitals: Sequence[Any]) -> tuple[Site, ...]:
    """Return the sites of a set of layouts: every station once, then every hospital.

    Raises
    ------
    ScenarioError
        Two layouts give the same station id different coordinates.
    """
    stations: dict[str, Site] = {}
    for layout in layouts:
        for ls in layout.stations:
            if ls.ambulances == 0:
                continue  # a point with staff but no ambulance sends no one
            st = ls.station
            site = Site(station_site_id(st.id), "station", float(st.lon), float(st.lat))
            known = stations.get(site.id)
            if known is not None and (abs(known.lon - site.lon) > 1e-7 or abs(known.lat - site.lat) > 1e-7):
                raise ScenarioError(
                    f"station {st.id!r}: layout {layout.name!r} places it at ({st.lon}, {st.lat}), another layout "
                    f"at ({known.lon}, {known.lat}); give the new place its own station id"
                )
            stations[site.id] = site
    hospital_sites = [Site(hospital_site_id(h.id), "hospital", float(h.lon), float(h.lat)) for h in hospitals]
    return (*stations.values(), *hospital_sites)


def build_scenarios(
    county: Any,
    layouts: Sequence[Any],
    *,
    config: Mapping[str, Any] | None = None,
    calls_csv: str | Path | None = None,
    router: Any = None,
    progress: bool = False,
) -> list[Scenario]:
    """Build one scenario per layout on the county's road network.

    Parameters
    ----------
    county
        A ``geodata.county.County``.
    layouts
        ``geodata.county.Layout`` objects (see :func:`resolve_layout`).
    config
        The loaded ``config.toml`` (``[simulation]``, ``[dispatch]``, ``[routing]``, ``[centers]``).
    calls_csv
        Past calls to draw locations from instead of the county's demand model.
    router
        A ready ``routing.engine.Router`` (built from the county when None); its
        ``[routing.time_of_day_factor]`` gives the travel tables by hour.
    progress
        Print what is being prepared.

    Raises
    ------
    ScenarioError, GeodataError, RoutingError
        A layout, the demand or the network cannot be used.
    """
    config = dict(config or {})
    sim_config = SimulationConfig.from_config(config)
    dispatch = DispatchConfig.from_config(config)
    destination = DestinationConfig.from_mapping(((config.get("centers") or {}).get("destination")) or {})
    demand = read_calls_csv(calls_csv, county.places) if calls_csv is not None else county_demand(county.places)
    if router is None:
        from routing.engine import Router
        from routing.network import load_network

        if progress:
            print("simulation: loading the road network ...", flush=True)
        router = Router(load_network(county, progress=progress), profile="emergency", config=config)
    sites = layout_sites(layouts, county.hospitals)
    if progress:
        factors = len(factor_hours(router.speed.time_of_day_factor))
        print(f"simulation: travel tables for {len(sites)} sites and {demand.n} demand points, "
              f"{factors} time-of-day factor(s) ...", flush=True)  # fmt: skip
    station_indices = [i for i, s in enumerate(sites) if s.kind == "station"]
    hourly = hourly_network_travel(router, demand, sites, return_sites=station_indices, landmarks=sim_config.landmarks)
    return scenarios_on(hourly.base, layouts, county.hospitals, sim_config, dispatch, destination, hourly_travel=hourly)


def scenarios_on(
    travel: TravelModel,
    layouts: Sequence[Any],
    hospitals: Sequence[Any],
    sim_config: SimulationConfig,
    dispatch: DispatchConfig,
    destination: DestinationConfig,
    *,
    hourly_travel: HourlyTravel | None = None,
) -> list[Scenario]:
    """Return one scenario per layout on a ready travel model.

    ``hourly_travel`` holds the travel models by local hour, ``travel`` first (None: ``travel``
    at every hour).
    """
    index = {site.id: i for i, site in enumerate(travel.sites)}
    return [
        Scenario(
            name=layout.name,
            units=units_for_layout(layout.stations, index, sim_config),
            travel=travel,
            hospitals=tuple(hospitals),
            config=sim_config,
            dispatch=dispatch,
            destination=destination,
            hourly_travel=hourly_travel,
        )
        for layout in layouts
    ]


def nearest_station_s(scenario: Scenario) -> np.ndarray:
    """Return, per demand point, the travel time (s) from the nearest station of the layout."""
    return scenario.travel.site_to_point_s[station_sites(scenario)].min(axis=0)


def station_sites(scenario: Scenario) -> list[int]:
    """Return the site indices of the layout's stations."""
    return sorted({u.base_site for u in scenario.units})


__all__ = [
    "build_scenarios",
    "layout_sites",
    "nearest_station_s",
    "resolve_layout",
    "scenarios_on",
    "station_sites",
]
