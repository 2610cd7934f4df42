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
"""

from __future__ import annotations

from types import MappingProxyType, SimpleNamespace

import numpy as np

from dispatch.model import Capability, Complaint, UnitStatus
from simulation.config import ComplaintSpec, Distribution, ServiceTimes, SimulationConfig
from simulation.demand import CallPlan
from simulation.model import Scenario, UnitSpec
from simulation.travel import DemandPoints, Site, TravelModel

ASSIGNABLE = (UnitStatus.AVAILABLE_AT_STATION, UnitStatus.AVAILABLE_MOBILE, UnitStatus.RETURNING)

SITE_TO_POINT = np.array([[300.0, 600.0, 900.0], [900.0, 600.0, 300.0], [120.0, 600.0, 1000.0]])
SITE_TO_SITE = np.array([[0.0, 1200.0, 200.0], [1200.0, 0.0, 1000.0], [200.0, 1000.0, 0.0]])


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


def tiny_scenario(*, units: tuple[UnitSpec, ...] | None = None, svc: ServiceTimes | None = None) -> Scenario:
    """Return the scenario of the module docstring."""
    units = units or (UnitSpec("a1", "A", 0, Capability.ALS), UnitSpec("b1", "B", 1, Capability.ALS))
    return Scenario("tiny", units, tiny_travel(), (hospital(),), config=one_complaint_config(svc or service()))


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
