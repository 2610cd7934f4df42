"""What one layout's simulation is given: its ambulances (`UnitSpec`) and the `Scenario`.

A `Scenario` holds the layout's units, the travel tables (`simulation.travel`,
`simulation.travel_hours`), the hospitals and the settings of the simulation and of the two
policies. It is checked when built, pickles for worker processes (`simulation.runner`), and
carries the caches the replications run in one process share (destinations, deciding
hospitals and stations nearest first, per travel table; see `simulation.model`).

Sites of the travel model are named by `station_site_id` and `hospital_site_id`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from centers.destination import DestinationConfig
from dispatch.model import Capability
from dispatch.policy import DispatchConfig
from simulation.config import SimulationConfig
from simulation.errors import ScenarioError
from simulation.travel import TravelModel
from simulation.travel_hours import HourlyTravel


@dataclass(frozen=True, slots=True)
class UnitSpec:
    """An ambulance of the scenario: its id, home station (a site of the travel model), capability."""

    id: str
    station_id: str
    base_site: int
    capability: Capability


@dataclass(frozen=True, eq=False)
class Scenario:
    """Everything one layout's simulation needs.

    Attributes
    ----------
    name
        The layout's name.
    units
        The ambulances.
    travel
        Travel times between sites and demand points (off-peak: no time-of-day factor).
    hospitals
        Hospitals the destination policy may choose (``id``, ``capabilities``, ``pci_24_7``...).
    config, dispatch, destination
        Simulation settings and the two policies' settings.
    hourly_travel
        The travel models by local hour, ``travel`` first (`simulation.travel_hours`); None:
        ``travel`` at every hour.
    """

    name: str
    units: tuple[UnitSpec, ...]
    travel: TravelModel
    hospitals: tuple[Any, ...]
    config: SimulationConfig = field(default_factory=SimulationConfig)
    dispatch: DispatchConfig = field(default_factory=DispatchConfig)
    destination: DestinationConfig = field(default_factory=DestinationConfig)
    hourly_travel: HourlyTravel | None = None

    def __post_init__(self) -> None:
        if not self.units:
            raise ScenarioError(f"layout {self.name!r}: no ambulances; a simulation needs at least one unit")
        ids = [u.id for u in self.units]
        if len(set(ids)) != len(ids):
            raise ScenarioError(f"layout {self.name!r}: unit ids must be unique")
        sites = len(self.travel.sites)
        for u in self.units:
            if not 0 <= u.base_site < sites:
                raise ScenarioError(f"unit {u.id}: base_site {u.base_site} is not a site (0-{sites - 1})")
        for h in self.hospitals:
            self.travel.site_index(hospital_site_id(h.id))
        if self.config.unbounded_dispatch and self.dispatch.max_eta_s is not None:
            object.__setattr__(self, "dispatch", replace(self.dispatch, max_eta_s=None))
        if self.hourly_travel is None:
            object.__setattr__(self, "hourly_travel", HourlyTravel.single(self.travel))
        elif self.hourly_travel.base is not self.travel:
            raise ScenarioError(
                f"layout {self.name!r}: hourly_travel must have the scenario's travel model as its first table"
            )

        # Per travel table (shared by the replications run in this process).
        tables = len(self.hourly_travel.tables)
        object.__setattr__(self, "_destination_cache", tuple({} for _ in range(tables)))
        object.__setattr__(self, "_deciding_cache", tuple({} for _ in range(tables)))
        object.__setattr__(self, "_station_order_cache", tuple({} for _ in range(tables)))

    def __reduce__(self) -> tuple[Any, ...]:
        # DispatchConfig holds a read-only mapping view, which does not pickle: send its fields.
        dispatch = {name: getattr(self.dispatch, name) for name in DispatchConfig.__dataclass_fields__}
        dispatch["turnout_s"] = dict(dispatch["turnout_s"])
        return (
            _scenario,
            (self.name, self.units, self.travel, self.hospitals, self.config, dispatch, self.destination,
             self.hourly_travel),
        )


def _scenario(
    name: str, units: Any, travel: Any, hospitals: Any, config: Any, dispatch: dict, destination: Any,
    hourly_travel: Any,
) -> Scenario:  # fmt: skip
    return Scenario(name, units, travel, hospitals, config, DispatchConfig(**dispatch), destination, hourly_travel)


def station_site_id(station_id: str) -> str:
    """Return the travel-model site id of a station."""
    return f"station:{station_id}"


def hospital_site_id(hospital_id: str) -> str:
    """Return the travel-model site id of a hospital."""
    return f"hospital:{hospital_id}"


def units_for_layout(
    stations: Sequence[Any], site_index: dict[str, int], config: SimulationConfig
) -> tuple[UnitSpec, ...]:
    """Return the units of a layout's stations (``geodata.county.LayoutStation``), based at their sites."""
    units = []
    for ls in stations:
        if not ls.unit_ids:
            continue
        kind = getattr(ls.station.kind, "value", ls.station.kind)
        capability = config.capability_by_station_kind.get(kind, Capability.BLS)
        site = site_index[station_site_id(ls.station.id)]
        units.extend(UnitSpec(uid, ls.station.id, site, capability) for uid in ls.unit_ids)
    return tuple(units)
