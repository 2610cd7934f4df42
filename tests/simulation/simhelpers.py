"""Hand-built scenarios for the simulator's tests: no county, no road network.

``tiny_scenario``: two stations A and B, one hospital H, three demand points p0, p1, p2, with
travel times small enough to follow by hand (seconds)::

             p0     p1     p2              A      B      H
      A     300    600    900        A     0   1200    200
      B     900    600    300        B  1200      0   1000
      H     120    600   1000        H   200   1000      0

Points to sites are the transpose of sites to points. Units ``a1`` (at A) and ``b1`` (at B) are
ALS; turnout 60 s at the station, 15 s on the way back; no call processing; 600 s on scene,
300 s handover.

``tiny_hourly_travel``: the same network with a town around A, H and p0. Of each drive above,
this many seconds are on urban roads (the part a time-of-day factor multiplies)::

             p0     p1     p2              A      B      H
      A     200    100      0        A     0    100    200
      B     200    100      0        B   100      0    100
      H     120      0      0        H   200    100      0

``grid_graph``, ``grid_points``, ``grid_sites``: a 5 x 5 grid of two-way residential roads,
12 demand points and three sites (stations a, b, hospital h) on it, for the routing engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType, SimpleNamespace

import networkx as nx
import numpy as np

from dispatch.model import Capability, Complaint, UnitStatus
from simulation.config import ComplaintSpec, Distribution, ServiceTimes, SimulationConfig
from simulation.demand import CallPlan
from simulation.model import Scenario, UnitSpec
from simulation.travel import DemandPoints, Site, TravelModel
from simulation.travel_hours import HourlyTravel, factor_hours

ASSIGNABLE = (UnitStatus.AVAILABLE_AT_STATION, UnitStatus.AVAILABLE_MOBILE, UnitStatus.RETURNING)

SITE_TO_POINT = np.array([[300.0, 600.0, 900.0], [900.0, 600.0, 300.0], [120.0, 600.0, 1000.0]])
SITE_TO_SITE = np.array([[0.0, 1200.0, 200.0], [1200.0, 0.0, 1000.0], [200.0, 1000.0, 0.0]])
URBAN_SITE_TO_POINT = np.array([[200.0, 100.0, 0.0], [200.0, 100.0, 0.0], [120.0, 0.0, 0.0]])
URBAN_SITE_TO_SITE = np.array([[0.0, 100.0, 200.0], [100.0, 0.0, 100.0], [200.0, 100.0, 0.0]])


def hospital(hid: str = "h", capabilities: tuple[str, ...] = ("ed", "pci", "thrombolysis")) -> SimpleNamespace:
    """Return a hospital as the destination policy reads it."""
    return SimpleNamespace(id=hid, name=hid, capabilities=frozenset(capabilities), pci_24_7=True, lon=112.0, lat=28.0)


def points(n: int, *, urban: bool = True) -> DemandPoints:
    """Return ``n`` demand points of equal weight in one township."""
    return DemandPoints(
        ids=tuple(f"p{i}" for i in range(n)),
        names=tuple(f"p{i}" for i in range(n)),
        townships=tuple("T" if i % 2 == 0 else "U" for i in range(n)),
        lon=112.0 + 0.01 * np.arange(n),
        lat=np.full(n, 28.0),
        urban=np.full(n, urban),
        weight=np.ones(n),
    )


def service(*, turnout_station: float = 60.0, turnout_returning: float = 15.0, on_scene: object = 600.0,
            handover: float = 300.0, processing: float = 0.0) -> ServiceTimes:  # fmt: skip
    """Return service times (fixed unless a distribution table is given)."""
    return ServiceTimes(
        call_processing=Distribution.fixed(processing),
        turnout=MappingProxyType({
            UnitStatus.AVAILABLE_AT_STATION: Distribution.fixed(turnout_station),
            UnitStatus.AVAILABLE_MOBILE: Distribution.fixed(turnout_returning),
            UnitStatus.RETURNING: Distribution.fixed(turnout_returning),
        }),  # fmt: skip
        on_scene=Distribution.parse("on_scene_s", on_scene),
        handover=Distribution.fixed(handover),
    )


def one_complaint_config(svc: ServiceTimes, *, calls_per_day: float = 10.0, transport: float = 1.0) -> SimulationConfig:
    """Return a config with a single complaint (other, priority 2) and a flat profile."""
    return SimulationConfig(
        calls_per_day=calls_per_day,
        hourly_profile=(1.0,) * 24,
        weekday_factor=(1.0,) * 7,
        complaints=MappingProxyType({Complaint.OTHER: ComplaintSpec(1.0, (0.0, 1.0, 0.0, 0.0), transport)}),
        service=svc,
    )


def tiny_travel() -> TravelModel:
    """Return the hand-computable travel model of the module docstring."""
    sites = (
        Site("station:A", "station", 112.0, 28.0),
        Site("station:B", "station", 112.1, 28.0),
        Site("hospital:h", "hospital", 112.0, 28.01),
    )
    return TravelModel(sites, points(3), SITE_TO_POINT, SITE_TO_POINT.T.copy(), SITE_TO_SITE)


def tiny_hourly_travel(time_of_day_factor: Mapping[int, float]) -> HourlyTravel:
    """Return the tiny network's tables by hour: the urban seconds of each drive times the hour's factor."""
    base = tiny_travel()
    tables = {}
    for factor in factor_hours(time_of_day_factor):
        s2p = SITE_TO_POINT + (factor - 1.0) * URBAN_SITE_TO_POINT
        s2s = SITE_TO_SITE + (factor - 1.0) * URBAN_SITE_TO_SITE
        tables[factor] = base if factor == 1.0 else TravelModel(base.sites, base.points, s2p, s2p.T.copy(), s2s)
    return HourlyTravel.from_tables(tables, time_of_day_factor)


def tiny_scenario(
    *,
    units: tuple[UnitSpec, ...] | None = None,
    svc: ServiceTimes | None = None,
    time_of_day_factor: Mapping[int, float] | None = None,
) -> Scenario:
    """Return the scenario of the module docstring (with tables by hour when ``time_of_day_factor`` is given)."""
    units = units or (UnitSpec("a1", "A", 0, Capability.ALS), UnitSpec("b1", "B", 1, Capability.ALS))
    config = one_complaint_config(svc or service())
    if time_of_day_factor is None:
        return Scenario("tiny", units, tiny_travel(), (hospital(),), config=config)
    hourly = tiny_hourly_travel(time_of_day_factor)
    return Scenario("tiny", units, hourly.base, (hospital(),), config=config, hourly_travel=hourly)


GRID_LON0, GRID_LAT0, GRID_STEP = 112.50, 28.20, 0.004


def grid_graph(n: int = 5) -> nx.MultiDiGraph:
    """Return an ``n`` x ``n`` grid of two-way residential roads, 400 m apart, at 21-43 km/h."""
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for i in range(n):
        for j in range(n):
            g.add_node(i * n + j, x=GRID_LON0 + j * GRID_STEP, y=GRID_LAT0 + i * GRID_STEP)
    rng = np.random.default_rng(3)
    for i in range(n):
        for j in range(n):
            for di, dj in ((0, 1), (1, 0)):
                if i + di < n and j + dj < n:
                    u, v = i * n + j, (i + di) * n + j + dj
                    length = 400.0
                    time_s = length / (30 / 3.6) * rng.uniform(0.7, 1.4)
                    for a, b in ((u, v), (v, u)):
                        g.add_edge(a, b, length=length, travel_time=time_s, highway="residential")
    return g


def grid_points() -> DemandPoints:
    """Return 12 demand points of equal weight inside the 5 x 5 grid."""
    rng = np.random.default_rng(5)
    lon = GRID_LON0 + rng.uniform(0.001, 4 * GRID_STEP - 0.001, 12)
    lat = GRID_LAT0 + rng.uniform(0.001, 4 * GRID_STEP - 0.001, 12)
    return DemandPoints(
        ids=tuple(f"p{i}" for i in range(12)), names=tuple(f"p{i}" for i in range(12)),
        townships=("T",) * 12, lon=lon, lat=lat, urban=np.ones(12, dtype=bool), weight=np.ones(12),
    )  # fmt: skip


def grid_sites() -> tuple[Site, ...]:
    """Return stations a (south-west corner) and b (north-east corner) and hospital h (middle) of the grid."""
    return (
        Site("station:a", "station", GRID_LON0 + 0.0005, GRID_LAT0 + 0.0002),
        Site("station:b", "station", GRID_LON0 + 4 * GRID_STEP - 0.0005, GRID_LAT0 + 4 * GRID_STEP - 0.0002),
        Site("hospital:h", "hospital", GRID_LON0 + 2 * GRID_STEP + 0.001, GRID_LAT0 + 2 * GRID_STEP),
    )


def plan(times_s: list[float], pts: list[int], *, transport: list[bool], svc: ServiceTimes | None = None,
         priority: list[int] | None = None) -> CallPlan:  # fmt: skip
    """Return a call plan with given times, points and transports (complaint other)."""
    svc = svc or service()
    n = len(times_s)
    rng = np.random.default_rng(0)
    return CallPlan(
        t_s=np.asarray(times_s, dtype=float),
        point=np.asarray(pts, dtype=np.int64),
        complaint=np.zeros(n, dtype=np.int64),
        priority=np.asarray(priority or [2] * n, dtype=np.int8),
        transport=np.asarray(transport, dtype=bool),
        stemi=np.zeros(n, dtype=bool),
        cathlab_from_field=np.zeros(n, dtype=bool),
        lvo=np.zeros(n, dtype=bool),
        lkw_in_window=np.zeros(n, dtype=bool),
        call_processing_s=svc.call_processing.sample(rng, n),
        on_scene_s=svc.on_scene.sample(rng, n),
        handover_s=svc.handover.sample(rng, n),
        turnout_s=MappingProxyType({s: svc.turnout[s].sample(rng, n) for s in ASSIGNABLE}),
        complaints=(Complaint.OTHER,),
    )
