"""The twin's calls: drawn up front from the planner's demand model, as the simulator draws them."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from dispatch.model import Complaint, UnitStatus
from simulation.config import SimulationConfig
from simulation.demand import DAY_S, CallPlan, plan_calls
from simulation.travel import DemandPoints
from simulation.twin.errors import TwinError


@dataclass(frozen=True)
class TwinCall:
    """One call of the twin and what will happen on it (drawn up front, as the simulator does).

    ``t_s`` is simulated seconds since the start of the run.
    """

    t_s: float
    location: tuple[float, float]
    place_name: str
    complaint: Complaint
    priority: int
    transport: bool
    stemi: bool
    cathlab_from_field: bool
    lvo: bool
    lkw_in_window: bool
    call_processing_s: float
    on_scene_s: float
    handover_s: float
    turnout_s: Mapping[UnitStatus, float]


def twin_sim_config(config: Mapping[str, Any], calls_per_hour: float | None = None) -> SimulationConfig:
    """Return the simulator's settings for the twin; ``calls_per_hour`` replaces the daily profile by a flat rate.

    Raises
    ------
    TwinError
        ``calls_per_hour`` is not a positive number.
    """
    sim = SimulationConfig.from_config(config)
    if calls_per_hour is None:
        return sim
    if not (math.isfinite(calls_per_hour) and calls_per_hour > 0):
        raise TwinError(f"calls_per_hour must be a number > 0, got {calls_per_hour!r}")
    return sim.with_(calls_per_day=calls_per_hour * 24.0, hourly_profile=(1.0,) * 24, weekday_factor=(1.0,) * 7)


def _call_of(plan: CallPlan, points: DemandPoints, i: int, t_s: float) -> TwinCall:
    p = int(plan.point[i])
    return TwinCall(
        t_s=t_s, location=(float(points.lon[p]), float(points.lat[p])), place_name=points.names[p],
        complaint=plan.complaints[int(plan.complaint[i])], priority=int(plan.priority[i]),
        transport=bool(plan.transport[i]), stemi=bool(plan.stemi[i]),
        cathlab_from_field=bool(plan.cathlab_from_field[i]), lvo=bool(plan.lvo[i]),
        lkw_in_window=bool(plan.lkw_in_window[i]), call_processing_s=float(plan.call_processing_s[i]),
        on_scene_s=float(plan.on_scene_s[i]), handover_s=float(plan.handover_s[i]),
        turnout_s={s: float(v[i]) for s, v in plan.turnout_s.items()})


def call_stream(sim: SimulationConfig, points: DemandPoints, *, seed: int, start_of_day_s: float,
                first_now: bool = True) -> Iterator[TwinCall]:
    """Yield the twin's calls forever, in time order.

    Day ``k`` of the run is replication ``k`` of `plan_calls` (seeded by ``seed``), so the calls
    follow the same hourly and weekday profile, places and mix as the simulator's.

    Parameters
    ----------
    start_of_day_s
        Local time of day (s) at which the run starts: calls of day 0 before it are skipped.
    first_now
        Move the first call to the start of the run (the county is busy at once).
    """
    day = 0
    first = first_now
    while True:
        plan = plan_calls(sim, points, days=1.0, seed=seed, replication=day)
        for i in range(plan.n):
            t = day * DAY_S + float(plan.t_s[i]) - start_of_day_s
            if t < 0:
                continue
            yield _call_of(plan, points, i, 0.0 if first else t)
            first = False
        day += 1


def draw_call(sim: SimulationConfig, complaint: Complaint, location: tuple[float, float],
              rng: np.random.Generator) -> TwinCall:
    """Draw what happens on a call the twin did not place (a dispatcher's), by its complaint."""
    spec = sim.complaints.get(complaint) or next(iter(sim.complaints.values()))
    u = rng.uniform(size=5)
    service = sim.service
    stemi = complaint is Complaint.CHEST_PAIN and bool(u[1] < spec.stemi)

    def one(dist: Any) -> float:
        return float(dist.sample(rng, 1)[0])

    return TwinCall(t_s=0.0, location=location, place_name="", complaint=complaint, priority=2,
                    transport=bool(u[0] < spec.transport), stemi=stemi,
                    cathlab_from_field=stemi and bool(u[2] < spec.cathlab_from_field),
                    lvo=complaint is Complaint.STROKE and bool(u[3] < spec.lvo),
                    lkw_in_window=complaint is Complaint.STROKE and bool(u[4] < spec.lkw_in_window),
                    call_processing_s=one(service.call_processing), on_scene_s=one(service.on_scene),
                    handover_s=one(service.handover),
                    turnout_s={s: one(d) for s, d in service.turnout.items()})
